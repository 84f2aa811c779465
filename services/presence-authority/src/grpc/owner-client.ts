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

/** The owner side on this replica (AdminHandler), for shards it owns. */
export interface LocalOwner {
  /** The epoch at which this replica owns `shard`, undefined when it does not. */
  epochOf(shard: number): number | undefined;
  /** The answer the owner would send over NATS; never throws. */
  answer(shard: number, req: admin.AdminRequest): Promise<admin.AdminResponse>;
  /** A user's sessions when they can be read at once with the same answer (AdminHandler.presenceNow), else undefined. */
  presenceNow?(shard: number, bareJid: string): admin.UserSessions | undefined;
}

/** Requests answered in-process when this replica owns the shard: reads only (see OwnerClient). */
const LOCAL_OPS: ReadonlySet<string> = new Set(['presence', 'lastSeen', 'roster']);

/**
 * Forwards a call to the owner of a user's shard over NATS (request/reply on
 * `<p>.shard.<n>.admin`). No owner (no responders) or no answer in time means
 * a hand-over is in progress, and the caller gets UNAVAILABLE with a retry
 * delay rather than a guess.
 *
 * Reads about a shard this replica owns skip NATS and go straight to the
 * local owner (two NATS hops and an encode/decode each way saved: most of
 * GetPresence's cost). Writes still go over NATS: their answer leaves
 * through the owner's outbox, after the roster pushes they decided.
 */
export class OwnerClient {
  constructor(
    private readonly deps: {
      readonly nc: NatsConnection;
      readonly subjects: Subjects;
      readonly shardCount: number;
      readonly timeoutMs: number;
      readonly retryAfterMs: number;
      readonly local?: LocalOwner;
    },
  ) {}

  shardOf(bareJid: string): number {
    return shardOf(bareJid, this.deps.shardCount);
  }

  /** Sends `op` to the owner of `shard` and returns its answer of kind `expect`, or throws the matching ApiError. */
  async ask<K extends Result['$case']>(shard: number, op: NonNullable<admin.AdminRequest['op']>, expect: K, deadline: Deadline): Promise<Answer<K>> {
    const left = remainingMs(deadline);
    if (left <= 0) throw new ApiError(status.DEADLINE_EXCEEDED, 'deadline exceeded before the owner was asked');
    // An account deletion ends sessions on nodes, one round trip each, and may first wait up to a node lease for
    // its replica to know every node: more time than a read.
    const limit = op.$case === 'removeAccount' ? this.deps.timeoutMs * 4 : this.deps.timeoutMs;
    const timeout = Math.max(1, Math.floor(Math.min(left, limit)));
    const local = this.deps.local;
    const result = (
      local !== undefined && LOCAL_OPS.has(op.$case) && local.epochOf(shard) !== undefined
        ? await this.#askLocal(local, shard, op, timeout, deadline)
        : await this.#askOwner(shard, op, timeout, deadline)
    ).result;
    if (result === undefined) throw new ApiError(status.INTERNAL, 'empty answer from the shard owner');
    if (result.$case === 'error') throw fromAdminError(result.error, this.deps.retryAfterMs);
    if (result.$case !== expect) throw new ApiError(status.INTERNAL, `the shard owner answered ${result.$case}, not ${expect}`);
    return result as Answer<K>;
  }

  async #askOwner(shard: number, op: NonNullable<admin.AdminRequest['op']>, timeout: number, deadline: Deadline): Promise<admin.AdminResponse> {
    let data: Uint8Array;
    try {
      const reply = await this.deps.nc.request(this.deps.subjects.shardAdmin(shard), admin.AdminRequest.encode({ op }).finish(), { timeout });
      data = reply.data;
    } catch (e) {
      throw this.#noAnswer(shard, e instanceof Error && e.name === 'NoResponders' ? 'no owner' : 'no answer', timeout, deadline);
    }
    return admin.AdminResponse.decode(data);
  }

  /** The local owner's answer, with the same time limit as a request over NATS. */
  #askLocal(local: LocalOwner, shard: number, op: NonNullable<admin.AdminRequest['op']>, timeout: number, deadline: Deadline): Promise<admin.AdminResponse> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.#noAnswer(shard, 'no answer', timeout, deadline)), timeout);
      void local.answer(shard, { op }).then((res) => {
        clearTimeout(timer);
        resolve(res);
      });
    });
  }

  #noAnswer(shard: number, why: string, timeout: number, deadline: Deadline): ApiError {
    if (timeout < this.deps.timeoutMs && remainingMs(deadline) <= 0) return new ApiError(status.DEADLINE_EXCEEDED, 'deadline exceeded waiting for the shard owner');
    return ApiError.unavailable(`shard ${shard} has ${why} right now (hand-over in progress?)`, this.deps.retryAfterMs);
  }

  /**
   * The sessions of each bare JID, keyed by JID: read at once from the local
   * owner where it can (LocalOwner.presenceNow), the rest grouped by shard,
   * each owner asked once.
   */
  async presence(bareJids: readonly string[], deadline: Deadline): Promise<Map<string, admin.UserSessions>> {
    const out = new Map<string, admin.UserSessions>();
    const local = this.deps.local;
    let byShard: Map<number, string[]> | undefined;
    for (const j of bareJids) {
      if (out.has(j)) continue;
      const shard = this.shardOf(j);
      const now = local?.presenceNow?.(shard, j);
      if (now !== undefined) {
        out.set(j, now);
        continue;
      }
      byShard ??= new Map();
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [j]);
      else if (!list.includes(j)) list.push(j);
    }
    if (byShard === undefined) return out;
    const answers = await Promise.all(
      [...byShard].map(([shard, jids]) => this.ask(shard, { $case: 'presence', presence: { bareJids: jids } }, 'presence', deadline)),
    );
    for (const a of answers) for (const u of a.presence.users) out.set(u.bareJid, u);
    return out;
  }
}
