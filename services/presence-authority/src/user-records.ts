import { LRUCache } from 'lru-cache';
import { EMPTY_RECORD, RevisionConflictError, type RosterRecord, type RosterRepository, type VersionedRecord } from '@vigil/store';

/** Attempts of one compare-and-set before giving up: only a change of owner can make it lose. */
const MAX_CAS_ATTEMPTS = 3;

/**
 * Roster records (roster, pending requests, block list) of users in owned
 * shards: read through an LRU cache, written by compare-and-set on the KV
 * revision last read. Bounded by count; at the maximum the least recently
 * used record is dropped and re-read on next use. Concurrent misses for one
 * user share one KV read. Callers serialize writes per user.
 */
export class UserRecords {
  readonly #cache: LRUCache<string, VersionedRecord>;
  readonly #loading = new Map<string, Promise<VersionedRecord>>();

  constructor(private readonly store: RosterRepository, maxEntries: number) {
    this.#cache = new LRUCache({ max: maxEntries });
  }

  async get(localpart: string): Promise<RosterRecord> {
    return (await this.#versioned(localpart)).record;
  }

  /**
   * Applies `change` to the current record and stores it. `change` returns
   * undefined for "nothing to write". On a lost compare-and-set the record is
   * re-read and `change` applied again, so it must be a pure function of its input.
   */
  async update(localpart: string, change: (r: RosterRecord) => RosterRecord | undefined): Promise<RosterRecord> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#versioned(localpart);
      const next = change(current.record);
      if (next === undefined) return current.record;
      try {
        const revision = await this.store.put(localpart, next, current.revision);
        this.#cache.set(localpart, { record: next, revision });
        return next;
      } catch (e) {
        this.#cache.delete(localpart);
        if (!(e instanceof RevisionConflictError) || attempt >= MAX_CAS_ATTEMPTS) throw e;
      }
    }
  }

  async #versioned(localpart: string): Promise<VersionedRecord> {
    const hit = this.#cache.get(localpart);
    if (hit) return hit;
    let loading = this.#loading.get(localpart);
    if (!loading) {
      loading = this.store
        .get(localpart)
        .then((v) => {
          this.#cache.set(localpart, v);
          return v;
        })
        .finally(() => this.#loading.delete(localpart));
      this.#loading.set(localpart, loading);
    }
    return loading;
  }
}

export { EMPTY_RECORD };
