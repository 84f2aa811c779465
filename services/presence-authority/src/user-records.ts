import { LRUCache } from 'lru-cache';
import { rosterView, type RosterView } from '@vigil/roster';
import { EMPTY_RECORD, RevisionConflictError, type RosterRecord, type RosterRepository } from '@vigil/store';

/** Attempts of one compare-and-set before giving up: only a change of owner can make it lose. */
const MAX_CAS_ATTEMPTS = 3;

/**
 * A user's roster record as cached, with what broadcasts and probes derive
 * from it (RosterView), made once per version of the record.
 */
export interface UserEntry {
  readonly record: RosterRecord;
  readonly view: RosterView;
}

interface Cached extends UserEntry {
  /** KV revision of the record; 0 when the user has none yet. */
  readonly revision: number;
}

/** What a user without a stored record has: one shared entry, not an object per cached user. */
const NO_ENTRY: Cached = Object.freeze({ record: EMPTY_RECORD, view: rosterView(EMPTY_RECORD.roster, EMPTY_RECORD.blocked), revision: 0 });

function cachedOf(record: RosterRecord, revision: number): Cached {
  return revision === 0 && record === EMPTY_RECORD ? NO_ENTRY : { record, view: rosterView(record.roster, record.blocked), revision };
}

/**
 * Roster records (roster, pending requests, block list) of users in owned
 * shards: read through an LRU cache, written by compare-and-set on the KV
 * revision last read. Bounded by count; at the maximum the least recently
 * used record is dropped and re-read on next use. Concurrent misses for one
 * user share one KV read. Callers serialize writes per user.
 */
export class UserRecords {
  readonly #cache: LRUCache<string, Cached>;
  readonly #loading = new Map<string, Promise<Cached>>();

  constructor(private readonly store: RosterRepository, maxEntries: number) {
    this.#cache = new LRUCache({ max: maxEntries });
  }

  async get(localpart: string): Promise<RosterRecord> {
    return (await this.#versioned(localpart)).record;
  }

  /** The record with its view. */
  entry(localpart: string): Promise<UserEntry> {
    return this.#versioned(localpart);
  }

  /**
   * The record with its view when it is cached (it counts as a use), without
   * waiting; undefined when it would have to be read from the store.
   */
  cached(localpart: string): UserEntry | undefined {
    return this.#cache.get(localpart);
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
        this.#cache.set(localpart, cachedOf(next, revision));
        return next;
      } catch (e) {
        this.#cache.delete(localpart);
        if (!(e instanceof RevisionConflictError) || attempt >= MAX_CAS_ATTEMPTS) throw e;
      }
    }
  }

  #versioned(localpart: string): Promise<Cached> {
    const hit = this.#cache.get(localpart);
    if (hit) return Promise.resolve(hit);
    let loading = this.#loading.get(localpart);
    if (!loading) {
      loading = this.store
        .get(localpart)
        .then((v) => {
          const c = cachedOf(v.record, v.revision);
          this.#cache.set(localpart, c);
          return c;
        })
        .finally(() => this.#loading.delete(localpart));
      this.#loading.set(localpart, loading);
    }
    return loading;
  }
}

export { EMPTY_RECORD };
