import { LRUCache } from 'lru-cache';
import type { Roster } from '@vigil/roster';
import type { RosterStore } from '@vigil/store';

/**
 * Rosters of users in owned shards, read through from KV. Bounded by count;
 * at the maximum the least recently used roster is dropped and re-read on
 * next use. Concurrent misses for one user share one KV read.
 */
export class RosterCache {
  readonly #cache: LRUCache<string, Roster>;
  readonly #loading = new Map<string, Promise<Roster>>();

  constructor(private readonly store: RosterStore, maxEntries: number) {
    this.#cache = new LRUCache({ max: maxEntries });
  }

  async get(localpart: string): Promise<Roster> {
    const hit = this.#cache.get(localpart);
    if (hit) return hit;
    let loading = this.#loading.get(localpart);
    if (!loading) {
      loading = this.store
        .get(localpart)
        .then(({ roster }) => {
          this.#cache.set(localpart, roster);
          return roster;
        })
        .finally(() => this.#loading.delete(localpart));
      this.#loading.set(localpart, loading);
    }
    return loading;
  }

  invalidate(localpart: string): void {
    this.#cache.delete(localpart);
  }
}
