import { status, type Deadline } from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { admin } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { ApiError, fromAdminError } from './errors.js';

type Result = NonNullable<admin.AdminResponse['result']>;
type Answer<K extends Result['$case']> = Extract<Result, { $case: K }>;

/** Milliseconds left before a grpc-js deadline (Infinity without one). */
export function remainingMs(deadline: Deadline): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at === Infinity ? Infinity : at - Date.now();
}

/**
 * Forwards a call to the owner of a user's shard over NATS (request/reply on
 * `<p>.shard.<n>.admin`), even when that owner is this replica: one path for
 * every call. No owner (no responders) or no answer in time means a hand-over
 * is in progress, and the caller gets UNAVAILABLE with a retry delay rather
 * than a guess.
 */
export class OwnerClient {
  constructor(
    private readonly deps: {
      readonly nc: NatsConnection;
      readonly subjects: Subjects;
      readonly shardCount: number;
      readonly timeoutMs: number;
      readonly retryAfterMs: number;
    },
  ) {}

  shardOf(bareJid: string): number {
    return shardOf(bareJid, this.deps.shardCount);
  }

  /** Sends `op` to the owner of `shard` and returns its answer of kind `expect`, or throws the matching ApiError. */
  async ask<K extends Result['$case']>(shard: number, op: NonNullable<admin.AdminRequest['op']>, expect: K, deadline: Deadline): Promise<Answer<K>> {
    const left = remainingMs(deadline);
    if (left <= 0) throw new ApiError(status.DEADLINE_EXCEEDED, 'deadline exceeded before the owner was asked');
    const timeout = Math.max(1, Math.floor(Math.min(left, this.deps.timeoutMs)));
    let data: Uint8Array;
    try {
      const reply = await this.deps.nc.request(this.deps.subjects.shardAdmin(shard), admin.AdminRequest.encode({ op }).finish(), { timeout });
      data = reply.data;
    } catch (e) {
      if (timeout < this.deps.timeoutMs && remainingMs(deadline) <= 0) throw new ApiError(status.DEADLINE_EXCEEDED, 'deadline exceeded waiting for the shard owner');
      const why = e instanceof Error && e.name === 'NoResponders' ? 'no owner' : 'no answer';
      throw ApiError.unavailable(`shard ${shard} has ${why} right now (hand-over in progress?)`, this.deps.retryAfterMs);
    }
    const result = admin.AdminResponse.decode(data).result;
    if (result === undefined) throw new ApiError(status.INTERNAL, 'empty answer from the shard owner');
    if (result.$case === 'error') throw fromAdminError(result.error, this.deps.retryAfterMs);
    if (result.$case !== expect) throw new ApiError(status.INTERNAL, `the shard owner answered ${result.$case}, not ${expect}`);
    return result as Answer<K>;
  }

  /** Groups bare JIDs by shard and asks each owner once for their sessions; results keyed by JID. */
  async presence(bareJids: readonly string[], deadline: Deadline): Promise<Map<string, admin.UserSessions>> {
    const byShard = new Map<number, string[]>();
    for (const j of new Set(bareJids)) {
      const shard = this.shardOf(j);
      const list = byShard.get(shard) ?? [];
      list.push(j);
      byShard.set(shard, list);
    }
    const answers = await Promise.all(
      [...byShard].map(([shard, jids]) => this.ask(shard, { $case: 'presence', presence: { bareJids: jids } }, 'presence', deadline)),
    );
    const out = new Map<string, admin.UserSessions>();
    for (const a of answers) for (const u of a.presence.users) out.set(u.bareJid, u);
    return out;
  }
}
