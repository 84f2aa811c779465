import { RevisionConflictError, type SessionStore, type StoredSessionEntry } from '@vigil/store';
import type { store } from '@vigil/proto';
import type { SessionRecord } from './registry.js';

/** Where the authority writes the session registry so a successor finds it (DESIGN.md). */
export interface SessionJournal {
  save(record: SessionRecord): Promise<void>;
  drop(record: SessionRecord): Promise<void>;
}

/** For tests that keep the registry in memory only. */
export const NO_JOURNAL: SessionJournal = { save: async () => undefined, drop: async () => undefined };

export function toStored(r: SessionRecord, epoch: number): store.StoredSession {
  return {
    session: { sessionId: r.sessionId, fullJid: r.fullJid, nodeId: r.nodeId, incarnation: r.incarnation },
    available: r.available,
    presenceXml: r.presenceXml,
    priority: r.priority,
    directedTo: [...r.directedTo],
    presenceErrorsFrom: [...r.presenceErrorsFrom],
    epoch,
  };
}

/**
 * The KV journal: every write is a compare-and-set on the revision this
 * owner last wrote or loaded, so after a takeover the deposed owner's late
 * writes fail instead of resurrecting or erasing its successor's entries.
 */
export class KvSessionJournal implements SessionJournal {
  readonly #revisions = new Map<string, number>();

  constructor(
    private readonly store: SessionStore,
    private readonly epochOf: (shard: number) => number | undefined,
  ) {}

  /** A successor takes over the entries it loaded, with their revisions. */
  adopt(entry: StoredSessionEntry): void {
    const id = entry.value.session?.sessionId;
    if (id !== undefined) this.#revisions.set(id, entry.revision);
  }

  forget(sessionIds: Iterable<string>): void {
    for (const id of sessionIds) this.#revisions.delete(id);
  }

  async save(record: SessionRecord): Promise<void> {
    const epoch = this.epochOf(record.shard);
    if (epoch === undefined) throw new ShardNotOwnedError(record.shard);
    const revision = await this.store.save(record.shard, toStored(record, epoch), this.#revisions.get(record.sessionId) ?? 0);
    this.#revisions.set(record.sessionId, revision);
  }

  async drop(record: SessionRecord): Promise<void> {
    const revision = this.#revisions.get(record.sessionId);
    this.#revisions.delete(record.sessionId);
    if (revision === undefined) return; // never written: nothing to erase
    await this.store.remove(record.shard, record.sessionId, revision);
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
