/**
 * Failed-authentication counting with temporary lockout, per account name
 * and per client address (issue: brute force and credential stuffing). A
 * pure table over an injected monotonic clock; the node keeps one. Bounded:
 * beyond `maxEntries` the oldest entry is forgotten (an attacker spraying
 * names cannot grow it without limit). Per node: an attacker spread over
 * nodes is slowed per node.
 */
export interface ThrottleOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly maxEntries?: number;
}

interface Entry {
  failures: number;
  windowStartMs: number;
  lockedUntilMs: number;
}

export class AuthThrottle {
  readonly #accounts = new Map<string, Entry>();
  readonly #addresses = new Map<string, Entry>();

  constructor(private readonly o: ThrottleOptions) {}

  /** Why this attempt must be refused without checking the password, if it must. */
  locked(account: string | undefined, address: string, nowMs: number): 'account' | 'address' | undefined {
    if (this.#isLocked(this.#addresses, address, nowMs)) return 'address';
    if (account !== undefined && this.#isLocked(this.#accounts, account, nowMs)) return 'account';
    return undefined;
  }

  failure(account: string | undefined, address: string, nowMs: number): void {
    this.#count(this.#addresses, address, nowMs);
    if (account !== undefined) this.#count(this.#accounts, account, nowMs);
  }

  /** A success clears the account's count (not the address's: one good password does not vouch for the rest). */
  success(account: string): void {
    this.#accounts.delete(account);
  }

  #isLocked(map: Map<string, Entry>, key: string, nowMs: number): boolean {
    const e = map.get(key);
    return e !== undefined && e.lockedUntilMs > nowMs;
  }

  #count(map: Map<string, Entry>, key: string, nowMs: number): void {
    let e = map.get(key);
    if (e === undefined || nowMs - e.windowStartMs > this.o.windowMs) {
      e = { failures: 0, windowStartMs: nowMs, lockedUntilMs: e?.lockedUntilMs ?? 0 };
    }
    map.delete(key); // re-insert: the map's order is the age order for eviction
    e.failures++;
    if (e.failures >= this.o.maxFailures) {
      e.lockedUntilMs = nowMs + this.o.lockoutMs;
      e.failures = 0;
      e.windowStartMs = nowMs;
    }
    map.set(key, e);
    const max = this.o.maxEntries ?? 100_000;
    while (map.size > max) map.delete(map.keys().next().value as string);
  }
}

/** The client address without the port: lockout is per host, not per connection. */
export function addressOf(remote: string): string {
  const colon = remote.lastIndexOf(':');
  return colon > 0 ? remote.slice(0, colon) : remote;
}
