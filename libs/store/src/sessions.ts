import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import { store } from '@vigil/proto';
import { RevisionConflictError } from './errors.js';

export interface StoredSessionEntry {
  readonly value: store.StoredSession;
  readonly revision: number;
}

/**
 * The durable session registry (DESIGN.md "State and who owns it"): one
 * entry per announced session, keyed "<shard>.<session id>", written by the
 * shard's owner with compare-and-set so a deposed owner's late write fails.
 *
 * A new owner's view must be exact, so this store avoids two shortcuts of
 * the KV client (see docs/decisions.md, "Reading the session registry"):
 * - listing keys with `kv.keys()` ends when a consumer reports nothing
 *   pending, and nats-server 2.9 in a replicated cluster under concurrent
 *   writes reports that too early, sometimes before the first key: a
 *   takeover then silently missed sessions. The stream's own subject index
 *   (stream info with a subject filter) lists every key.
 * - direct gets may be answered by a replica that is behind; the bucket is
 *   opened with direct gets off, so reads go to the stream leader.
 * Ended sessions are erased by deleting their message by sequence (the
 * revision last written, so the erase is itself a compare-and-set), which
 * leaves no tombstone behind to list and skip at every later takeover.
 */
export class SessionStore {
  readonly #stream: string;
  readonly #subjectPrefix: string;

  constructor(private readonly kv: KV, private readonly bucket: string, private readonly jsm: JetStreamManager) {
    this.#stream = `KV_${bucket}`;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  static key(shard: number, sessionId: string): string {
    return `${shard}.${sessionId}`;
  }

  /** One stored session with its revision, or undefined. */
  async read(shard: number, sessionId: string): Promise<StoredSessionEntry | undefined> {
    const e = await this.kv.get(SessionStore.key(shard, sessionId));
    if (e === null || e.operation !== 'PUT') return undefined;
    return { value: store.StoredSession.decode(e.value), revision: e.revision };
  }

  /** Every session stored for a shard (a new owner's first read). */
  async load(shard: number): Promise<StoredSessionEntry[]> {
    const keys = await this.keys(shard);
    const out: StoredSessionEntry[] = [];
    // Fetched a batch at a time: a takeover after a crash waits for this load.
    for (let i = 0; i < keys.length; i += 64) {
      const entries = await Promise.all(keys.slice(i, i + 64).map((k) => this.kv.get(k)));
      for (const e of entries) {
        if (e !== null && e.operation === 'PUT') out.push({ value: store.StoredSession.decode(e.value), revision: e.revision });
      }
    }
    return out;
  }

  /** The keys stored for a shard, from the stream's subject index (tombstones of older versions included). */
  async keys(shard: number): Promise<string[]> {
    const info = await this.jsm.streams.info(this.#stream, { subjects_filter: `${this.#subjectPrefix}${shard}.*` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(this.#subjectPrefix.length));
  }

  /** Create (expectedRevision 0) or update at the revision last written; returns the new revision. */
  async save(shard: number, value: store.StoredSession, expectedRevision: number): Promise<number> {
    const key = SessionStore.key(shard, value.session?.sessionId ?? '');
    const bytes = store.StoredSession.encode(value).finish();
    try {
      return expectedRevision === 0 ? await this.kv.create(key, bytes) : await this.kv.update(key, bytes, expectedRevision);
    } catch (e) {
      throw new RevisionConflictError(this.bucket, key, e);
    }
  }

  /** Erases the entry if it is still at `expectedRevision` (0: whatever is stored now). */
  async remove(shard: number, sessionId: string, expectedRevision: number): Promise<void> {
    const key = SessionStore.key(shard, sessionId);
    let revision = expectedRevision;
    if (revision <= 0) {
      const current = await this.read(shard, sessionId);
      if (current === undefined) return;
      revision = current.revision;
    }
    try {
      // Fails when the entry was written since: that message is gone (one version is kept per key).
      if (!(await this.jsm.streams.deleteMessage(this.#stream, revision, false))) throw new Error(`message ${revision} not deleted`);
    } catch (e) {
      throw new RevisionConflictError(this.bucket, key, e);
    }
  }
}
