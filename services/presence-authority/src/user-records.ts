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
  /** Shards whose entries are to be dropped at the end of this turn (forgetShard). */
  #forgetting = new Set<number>();

  constructor(
    private readonly store: RosterRepository,
    maxEntries: number,
    /** The shard of a user, by localpart. */
    private readonly shardOf: (localpart: string) => number,
  ) {
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
    return this.#hit(localpart);
  }

  /**
   * Drops the cached records of a shard taken or given away: while another
   * replica owned it, it may have changed them, and a stale block list or
   * roster would leak presence when the shard comes back. A takeover
   * acquires many shards in one turn, so the cache is swept once for all of
   * them at the end of the turn; until then their entries count as missing.
   * Reads in flight for the shard are not cached when they finish, and later
   * callers start a new one.
   */
  forgetShard(shard: number): void {
    if (this.#forgetting.size === 0) queueMicrotask(() => this.#sweep());
    this.#forgetting.add(shard);
    for (const localpart of [...this.#loading.keys()]) if (this.shardOf(localpart) === shard) this.#loading.delete(localpart);
  }

  #sweep(): void {
    const shards = this.#forgetting;
    this.#forgetting = new Set();
    for (const localpart of [...this.#cache.keys()]) if (shards.has(this.shardOf(localpart))) this.#cache.delete(localpart);
  }

  /** The cached entry, unless its shard is being forgotten (then it is dropped now). */
  #hit(localpart: string): Cached | undefined {
    const hit = this.#cache.get(localpart);
    if (hit === undefined || this.#forgetting.size === 0 || !this.#forgetting.has(this.shardOf(localpart))) return hit;
    this.#cache.delete(localpart);
    return undefined;
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
    const hit = this.#hit(localpart);
    if (hit) return Promise.resolve(hit);
    let loading = this.#loading.get(localpart);
    if (!loading) {
      const read: Promise<Cached> = this.store
        .get(localpart)
        .then((v) => {
          const c = cachedOf(v.record, v.revision);
          // Forgotten while in flight (its shard changed hands): the callers waiting get it, the cache does not.
          if (this.#loading.get(localpart) === read) this.#cache.set(localpart, c);
          return c;
        })
        .finally(() => {
          if (this.#loading.get(localpart) === read) this.#loading.delete(localpart);
        });
      loading = read;
      this.#loading.set(localpart, loading);
    }
    return loading;
  }
}

export { EMPTY_RECORD };
