import type { NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import type { Logger } from '@vigil/telemetry';
import type { SessionRegistry, SessionRecord } from './registry.js';

export interface ReconcilerDeps {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly registry: SessionRegistry;
  readonly log: Logger;
  readonly timeoutMs: number;
  /** We hold a session the node no longer has: its end event was lost. */
  readonly onMissing: (record: SessionRecord) => Promise<void>;
  /** The node holds a session we never heard of: its announcement was lost. */
  readonly onUnknown: (state: cluster.SessionState) => Promise<void>;
  /** We know the session but missed its latest presence: a broadcast was lost. */
  readonly onStale: (state: cluster.SessionState) => Promise<void>;
}

/** Consecutive mismatching heartbeats before asking: one may just race an event in flight. */
export const MISMATCHES_BEFORE_RECONCILE = 2;

/**
 * The counts after one heartbeat: each shard that disagreed again counts one more, every other shard is dropped;
 * `due` lists the shards that reached MISMATCHES_BEFORE_RECONCILE heartbeats in a row.
 */
export function countMismatches(before: ReadonlyMap<number, number> | undefined, mismatched: readonly number[] | undefined): { counts: Map<number, number>; due: number[] } {
  const counts = new Map<number, number>();
  const due: number[] = [];
  for (const shard of mismatched ?? []) {
    if (counts.has(shard)) continue;
    const count = (before?.get(shard) ?? 0) + 1;
    counts.set(shard, count);
    if (count >= MISMATCHES_BEFORE_RECONCILE) due.push(shard);
  }
  return { counts, due };
}

/**
 * Heals lost session events (core NATS drops messages across reconnects):
 * when a node's per-shard digest disagrees with ours twice in a row, ask the
 * node for that shard's sessions and settle the difference.
 */
export class Reconciler {
  /** Per incarnation (`node\0incarnation`): shard → heartbeats in a row whose digest disagreed, up to the last one. */
  readonly #mismatches = new Map<string, Map<number, number>>();
  readonly #inFlight = new Set<string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * One heartbeat's comparison: the shards (this replica owns) whose digests disagreed, undefined when none did.
   * Counts restart for every shard that agreed or was not compared (given away meanwhile), so nothing is kept for
   * a shard or an incarnation that stopped disagreeing; forget() drops an incarnation that ended.
   */
  heartbeat(nodeId: string, incarnation: string, mismatched: readonly number[] | undefined): void {
    // The common case, every digest agreeing and nothing pending, costs no key (two heartbeats a second).
    if (mismatched === undefined && this.#mismatches.size === 0) return;
    const inc = `${nodeId}\u0000${incarnation}`;
    const next = countMismatches(this.#mismatches.get(inc), mismatched);
    if (next.counts.size === 0) this.#mismatches.delete(inc);
    else this.#mismatches.set(inc, next.counts);
    for (const shard of next.due) {
      const key = `${inc}\u0000${shard}`;
      if (this.#inFlight.has(key)) continue;
      this.#inFlight.add(key);
      this.#reconcile(nodeId, incarnation, shard)
        .catch((e: unknown) => this.deps.log.warn('reconcile failed; will retry on a later heartbeat', { node: nodeId, shard, err: e }))
        .finally(() => {
          this.#inFlight.delete(key);
          // Counted again from the next disagreement.
          const counts = this.#mismatches.get(inc);
          if (counts?.delete(shard) === true && counts.size === 0) this.#mismatches.delete(inc);
        });
    }
  }

  /** An incarnation that ended: nothing of it is counted any more. */
  forget(nodeId: string, incarnation: string): void {
    if (this.#mismatches.size > 0) this.#mismatches.delete(`${nodeId}\u0000${incarnation}`);
  }

  async #reconcile(nodeId: string, incarnation: string, shard: number): Promise<void> {
    const req = cluster.SessionListRequest.encode({ shard, incarnation }).finish();
    const reply = await this.deps.nc.request(this.deps.subjects.nodeSessions(nodeId), req, { timeout: this.deps.timeoutMs });
    const list = cluster.SessionListResponse.decode(reply.data);
    if (list.incarnation !== incarnation) return; // the node restarted meanwhile; its heartbeat will settle it
    const theirs = new Map(list.sessions.filter((s) => s.session).map((s) => [s.session?.sessionId ?? '', s] as const));
    const ours = this.deps.registry.sessionsOfIncarnation(nodeId, incarnation).filter((r) => r.shard === shard);
    let missing = 0;
    let unknown = 0;
    for (const record of ours) {
      if (!theirs.has(record.sessionId)) {
        missing++;
        await this.deps.onMissing(record);
      }
    }
    let stale = 0;
    for (const [id, state] of theirs) {
      const known = this.deps.registry.get(id);
      if (!known) {
        unknown++;
        await this.deps.onUnknown(state);
      } else if (known.presenceSeq !== state.presenceSeq) {
        stale++;
        await this.deps.onStale(state);
      }
    }
    this.deps.log.warn('reconciled shard after digest mismatch', { node: nodeId, incarnation, shard, missing, unknown, stale });
  }
}
