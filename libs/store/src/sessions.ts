import type { KV } from '@nats-io/kv';
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
 */
export class SessionStore {
  constructor(private readonly kv: KV, private readonly bucket: string) {}

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
    const keys: string[] = [];
    for await (const k of await this.kv.keys(`${shard}.*`)) keys.push(k);
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

  async remove(shard: number, sessionId: string, expectedRevision: number): Promise<void> {
    const key = SessionStore.key(shard, sessionId);
    try {
      await this.kv.delete(key, expectedRevision > 0 ? { previousSeq: expectedRevision } : {});
    } catch (e) {
      throw new RevisionConflictError(this.bucket, key, e);
    }
  }
}
