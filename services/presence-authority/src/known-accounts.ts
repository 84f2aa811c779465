import { LRUCache } from 'lru-cache';

/**
 * Accounts this owner has seen exist, so a read about an offline user
 * (GetPresence, GetLastSeen) needs no KV lookup each time. Only "exists" is
 * remembered: a miss is looked up again, so a newly created account is never
 * reported missing. An entry is trusted only
 *  - under the shard epoch it was learnt in (a deletion by another owner in
 *    between is unseen here, and a new epoch starts from nothing),
 *  - until this owner deletes the account (forget),
 *  - for at most `ttlMs`, which bounds how long an account erased behind
 *    the API's back (an operator editing the bucket) is still reported.
 * Bounded by count: at the maximum the least recently used entry is dropped
 * and looked up again on its next use.
 */
export class KnownAccounts {
  readonly #seen: LRUCache<string, { readonly epoch: number; readonly atMs: number }>;

  constructor(maxEntries: number, private readonly ttlMs: number, private readonly nowMs: () => number) {
    this.#seen = new LRUCache({ max: maxEntries });
  }

  /** True when the account was seen to exist under this epoch within the TTL. */
  has(bareJid: string, epoch: number): boolean {
    const seen = this.#seen.get(bareJid);
    if (seen === undefined) return false;
    if (seen.epoch !== epoch || this.nowMs() - seen.atMs > this.ttlMs) {
      this.#seen.delete(bareJid);
      return false;
    }
    return true;
  }

  /** The account exists (just read from the store, or a session proves it). */
  add(bareJid: string, epoch: number): void {
    this.#seen.set(bareJid, { epoch, atMs: this.nowMs() });
  }

  forget(bareJid: string): void {
    this.#seen.delete(bareJid);
  }

  get size(): number {
    return this.#seen.size;
  }
}
