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
const MISMATCHES_BEFORE_RECONCILE = 2;

/**
 * Heals lost session events (core NATS drops messages across reconnects):
 * when a node's per-shard digest disagrees with ours twice in a row, ask the
 * node for that shard's sessions and settle the difference.
 */
export class Reconciler {
  readonly #mismatches = new Map<string, number>();
  readonly #inFlight = new Set<string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  observe(nodeId: string, incarnation: string, shard: number, matches: boolean): void {
    // The common case, every digest agreeing and nothing pending, costs no key (two heartbeats a second × shards).
    if (matches && this.#mismatches.size === 0) return;
    const key = `${nodeId}\u0000${incarnation}\u0000${shard}`;
    if (matches) {
      this.#mismatches.delete(key);
      return;
    }
    const count = (this.#mismatches.get(key) ?? 0) + 1;
    this.#mismatches.set(key, count);
    if (count < MISMATCHES_BEFORE_RECONCILE || this.#inFlight.has(key)) return;
    this.#inFlight.add(key);
    this.#reconcile(nodeId, incarnation, shard)
      .catch((e: unknown) => this.deps.log.warn('reconcile failed; will retry on a later heartbeat', { node: nodeId, shard, err: e }))
      .finally(() => {
        this.#inFlight.delete(key);
        this.#mismatches.delete(key);
      });
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
