/**
 * What a load-generator connection remembers of the presence it received:
 * sender, type and receive time, in a bounded log, plus waiters for "a
 * presence from X of type T arrived" with a deadline.
 */
import { DeadlineError } from '@vigil/testkit';

export interface PresenceRecord {
  /** Position in this connection's presence stream, from 0; see PresenceLog.mark(). */
  readonly seq: number;
  readonly from: string;
  /** The 'type' attribute, or 'available' when absent (RFC 6121 §4.7.1). */
  readonly type: string;
  /** performance.now() when the bytes carrying it were read from the socket. */
  readonly at: number;
}

/** A wait ended because the connection did, not because time ran out. */
export class ConnectionClosedError extends Error {
  /** `reason`: why it closed, when known (a stream error, input that could not be parsed). */
  constructor(what: string, reason?: string) {
    super(`connection closed${reason === undefined ? '' : ` (${reason})`} while waiting for ${what}`);
    this.name = 'ConnectionClosedError';
  }
}

interface Waiter {
  readonly from: string;
  readonly type: string;
  readonly since: number;
  readonly what: string;
  readonly resolve: (r: PresenceRecord) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** A bare JID matches any of its resources; a full JID only itself. */
function fromMatches(pattern: string, from: string): boolean {
  if (pattern === from) return true;
  return !pattern.includes('/') && from.startsWith(`${pattern}/`);
}

export class PresenceLog {
  /** Oldest first. At `capacity` the oldest record is dropped: scenarios wait on recent presence. */
  readonly #records: PresenceRecord[] = [];
  readonly #waiters = new Set<Waiter>();
  #seq = 0;
  #closed = false;
  #closeReason: string | undefined;
  readonly #counts = new Map<string, number>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('presence log capacity must be a positive integer');
  }

  get records(): readonly PresenceRecord[] {
    return this.#records;
  }

  /** The seq the next presence will get: wait with `since: mark()` to ignore what came before. */
  mark(): number {
    return this.#seq;
  }

  /** Presence of `type` received so far, kept or not (cheap to poll across thousands of connections). */
  count(type: string): number {
    return this.#counts.get(type) ?? 0;
  }

  record(from: string, type: string, at: number): void {
    this.#counts.set(type, (this.#counts.get(type) ?? 0) + 1);
    const record: PresenceRecord = { seq: this.#seq++, from, type, at };
    if (this.#records.length >= this.capacity) this.#records.shift();
    this.#records.push(record);
    for (const w of this.#waiters) {
      if (w.type === type && record.seq >= w.since && fromMatches(w.from, from)) this.#settle(w, () => w.resolve(record));
    }
  }

  /**
   * The first presence from `from` (full JID, or bare JID for any resource)
   * of `type` with seq ≥ `since`, already received or arriving within
   * `timeoutMs`. Rejects with DeadlineError, or ConnectionClosedError once
   * the connection is gone.
   */
  waitFor(from: string, type: string, timeoutMs: number, since = 0): Promise<PresenceRecord> {
    const seen = this.#records.find((r) => r.seq >= since && r.type === type && fromMatches(from, r.from));
    if (seen !== undefined) return Promise.resolve(seen);
    const what = `presence from ${from} of type ${type}`;
    if (this.#closed) return Promise.reject(new ConnectionClosedError(what, this.#closeReason));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        from,
        type,
        since,
        what,
        resolve,
        reject,
        timer: setTimeout(() => this.#settle(waiter, () => reject(new DeadlineError(what, timeoutMs))), timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** No more presence will come: every waiter fails now instead of at its deadline, with `reason` when known. */
  close(reason?: string): void {
    this.#closed = true;
    this.#closeReason = reason;
    for (const w of this.#waiters) this.#settle(w, () => w.reject(new ConnectionClosedError(w.what, reason)));
  }

  #settle(w: Waiter, outcome: () => void): void {
    if (!this.#waiters.delete(w)) return;
    clearTimeout(w.timer);
    outcome();
  }
}
