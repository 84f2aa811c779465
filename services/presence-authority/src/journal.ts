import { RevisionConflictError, type SessionStore, type StoredSessionEntry } from '@vigil/store';
import type { store } from '@vigil/proto';
import type { SessionRecord } from './registry.js';
import { BackgroundWrites } from './background-writes.js';

/** Where the authority writes the session registry so a successor finds it (DESIGN.md). */
export interface SessionJournal {
  /** Queues a write of the record's current state; never waits for the store. */
  save(record: SessionRecord): void;
  /** Queues the erasure of the record. */
  drop(record: SessionRecord): void;
  /** Resolves when every queued write of the given shard (or of all shards) has been attempted. */
  flush(shard?: number): Promise<void>;
}

/** For tests that keep the registry in memory only. */
export const NO_JOURNAL: SessionJournal = { save: () => undefined, drop: () => undefined, flush: async () => undefined };

export function toStored(r: SessionRecord, epoch: number): store.StoredSession {
  return {
    session: { sessionId: r.sessionId, fullJid: r.fullJid, nodeId: r.nodeId, incarnation: r.incarnation },
    available: r.available,
    presenceXml: r.presenceXml,
    priority: r.priority,
    directedTo: [...r.directedTo],
    presenceErrorsFrom: [...r.presenceErrorsFrom],
    epoch,
    presenceSeq: r.presenceSeq,
    availableSinceUnixMs: r.availableSinceUnixMs,
  };
}

/**
 * The KV journal: every write is a compare-and-set on the revision this
 * owner last wrote or loaded, so after a takeover the deposed owner's late
 * writes fail instead of resurrecting or erasing its successor's entries.
 * That revision lives on the record (SessionRecord.kvRevision), not in a map
 * of its own beside the registry: a second map by session id cost 46 bytes
 * per session. A new record for a session id whose entry is still stored
 * starts from 0 and takes the stored revision through the repair below.
 */
export class KvSessionJournal implements SessionJournal {
  /**
   * One write chain per session, off the presence path: a JetStream leader
   * election must not hold up fan-out (DESIGN.md "Know the engine's own
   * timings"), and writes of one session stay in order for their CAS.
   */
  readonly #chains = new Map<string, { shard: number; tail: Promise<void> }>();

  constructor(
    private readonly store: SessionStore,
    private readonly epochOf: (shard: number) => number | undefined,
    private readonly onError: (error: unknown, record: SessionRecord) => void,
    private readonly writes: BackgroundWrites = new BackgroundWrites(64),
  ) {}

  /** A successor takes over an entry it loaded (restored as `record`), with its revision. */
  adopt(record: SessionRecord, entry: StoredSessionEntry): void {
    record.kvRevision = entry.revision;
  }

  save(record: SessionRecord): void {
    // The state is captured now; the write happens in order after the ones before it.
    const epoch = this.epochOf(record.shard);
    if (epoch === undefined) return this.onError(new ShardNotOwnedError(record.shard), record);
    const value = toStored(record, epoch);
    this.#enqueue(record, false, async () => {
      const expected = record.kvRevision ?? 0;
      try {
        record.kvRevision = await this.store.save(record.shard, value, expected);
      } catch (e) {
        // Our own idea of the revision may be stale (a write that timed out yet landed): repair it, unless deposed.
        const current = await this.#stillOurs(record, epoch, e);
        if (current === undefined && expected !== 0) throw e; // erased meanwhile: never resurrect it
        record.kvRevision = await this.store.save(record.shard, value, current?.revision ?? 0);
      }
    });
  }

  drop(record: SessionRecord): void {
    const epoch = this.epochOf(record.shard);
    // A shard handed over while its session was ending: its announcement may not have gone out (the
    // outbox sends nothing for unowned shards), so the entry stays for the next owner to announce.
    if (epoch === undefined) return;
    // Deferrable: waits for a pause in a burst of session ends (BackgroundWrites), after their announcements.
    this.#enqueue(record, true, async () => {
      if (this.epochOf(record.shard) !== epoch) return;
      const revision = record.kvRevision ?? 0;
      record.kvRevision = 0;
      try {
        if (revision === 0) throw new RevisionConflictError('sessions', record.sessionId, 'no revision known');
        await this.store.remove(record.shard, record.sessionId, revision);
      } catch (e) {
        // A write of ours that timed out may have landed after all: erase what is there, unless deposed.
        const current = await this.#stillOurs(record, epoch, e);
        if (current !== undefined) await this.store.remove(record.shard, record.sessionId, current.revision);
      }
    });
  }

  /**
   * After a failed write: the entry as stored now, when this replica still
   * owns the shard at `epoch` and no owner with a higher epoch wrote it
   * (then the failure was our stale revision, not a successor's fence);
   * otherwise the original error is thrown again.
   */
  async #stillOurs(record: SessionRecord, epoch: number, error: unknown): Promise<StoredSessionEntry | undefined> {
    if (this.epochOf(record.shard) !== epoch) throw error;
    const current = await this.store.read(record.shard, record.sessionId);
    if (current !== undefined && current.value.epoch > epoch) throw error;
    return current;
  }

  async flush(shard?: number): Promise<void> {
    // Erasures waiting for a pause in a burst start at once while the flush lasts, those still to be queued included
    // (an erasure chained behind a save in flight): a hand-over waits for them.
    const release = this.writes.hurryUntilReleased();
    try {
      for (;;) {
        const pending = [...this.#chains.values()].filter((c) => shard === undefined || c.shard === shard).map((c) => c.tail);
        if (pending.length === 0) return;
        await Promise.all(pending);
      }
    } finally {
      release();
    }
  }

  #enqueue(record: SessionRecord, deferrable: boolean, write: () => Promise<void>): void {
    const prev = this.#chains.get(record.sessionId)?.tail ?? Promise.resolve();
    const tail = prev.then(() => this.writes.run(write, deferrable)).catch((e: unknown) => this.onError(e, record));
    const entry = { shard: record.shard, tail };
    this.#chains.set(record.sessionId, entry);
    void tail.then(() => {
      if (this.#chains.get(record.sessionId) === entry) this.#chains.delete(record.sessionId);
    });
  }
}

/** This replica no longer owns the shard: whatever it was about to write must not be written. */
export class ShardNotOwnedError extends Error {
  constructor(readonly shard: number) {
    super(`shard ${shard} is not owned here`);
    this.name = 'ShardNotOwnedError';
  }
}

export { RevisionConflictError };
