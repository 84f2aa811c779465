/**
 * The bookkeeping of requests waiting for their reply: each has a token (the
 * last part of its reply subject), a deadline and one way to settle it.
 * Pure: the caller owns the clock and the timer, and says when time passed.
 * Every request is settled exactly once: by its reply, by its deadline, or
 * by `closeAll`; whatever comes for it later finds nothing.
 */
export interface Settle<T> {
  resolve(value: T): void;
  reject(reason: Error): void;
}

interface Entry<T> extends Settle<T> {
  readonly deadlineMs: number;
  readonly subject: string;
}

export class PendingRequests<T> {
  readonly #entries = new Map<string, Entry<T>>();
  #next = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** Registers a request to `subject` due by `deadlineMs`; returns its token. */
  add(subject: string, deadlineMs: number, settle: Settle<T>): string {
    // Base 36 keeps reply subjects short; the counter never repeats within a process's life.
    const token = (this.#next++).toString(36);
    this.#entries.set(token, { deadlineMs, subject, resolve: settle.resolve, reject: settle.reject });
    return token;
  }

  /** A reply arrived: settles its request and returns true, or false when none waits (late, unknown). */
  resolve(token: string, value: T): boolean {
    const e = this.#entries.get(token);
    if (e === undefined) return false;
    this.#entries.delete(token);
    e.resolve(value);
    return true;
  }

  /** Fails one request (a no-responders answer, a publish that failed); false when none waits. */
  reject(token: string, makeError: (subject: string) => Error): boolean {
    const e = this.#entries.get(token);
    if (e === undefined) return false;
    this.#entries.delete(token);
    e.reject(makeError(e.subject));
    return true;
  }

  /** Fails every request whose deadline is at or before `nowMs`; returns how many. */
  expire(nowMs: number, makeError: (subject: string) => Error): number {
    let n = 0;
    for (const [token, e] of this.#entries) {
      if (e.deadlineMs > nowMs) continue;
      this.#entries.delete(token);
      e.reject(makeError(e.subject));
      n++;
    }
    return n;
  }

  /** Fails everything still waiting (the connection is closing). */
  closeAll(makeError: (subject: string) => Error): number {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of all) e.reject(makeError(e.subject));
    return all.length;
  }
}
