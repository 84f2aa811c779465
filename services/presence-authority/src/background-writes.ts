import { performance } from 'node:perf_hooks';

/** Whether presence work is piling up right now (see BackgroundWrites). */
export type Busy = () => boolean;

/** How long writes are held back while presence work piles up, at most. */
const MAX_HOLD_MS = 1000;
/** How often a held pump looks again. */
const HOLD_POLL_MS = 5;

/**
 * Writes that must happen but must not compete with fan-out: KV writes of
 * the session registry and last-seen. Each starts on a later turn of the
 * event loop (setImmediate), and at most `concurrency` run at once, so a
 * mass expiry announces every unavailable first and stores afterwards. The
 * queue is bounded; beyond it the oldest caller waits (callers serialize per
 * session, so nothing is reordered).
 *
 * While `busy()` says presence work is piling up (a mass expiry, a burst of
 * session ends), no write starts, for at most MAX_HOLD_MS per busy spell: each
 * JetStream write costs the authority a request and nats-server a store
 * write, on the same two cores that deliver the unavailable stanzas.
 */
export class BackgroundWrites {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  /** Since when (monotonic) writes have been held back; undefined when not held. */
  #heldSinceMs: number | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly busy: Busy = () => false,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      this.#pump();
    }).then(async () => {
      try {
        return await task();
      } finally {
        this.#running--;
        this.#pump();
      }
    });
  }

  get pending(): number {
    return this.#waiting.length + this.#running;
  }

  #pumping = false;

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    setImmediate(() => this.#start());
  }

  #start(): void {
    if (this.#waiting.length > 0 && this.busy()) {
      // One hold per busy spell: after MAX_HOLD_MS writes flow again until the spell ends.
      const now = this.nowMs();
      this.#heldSinceMs ??= now;
      if (now - this.#heldSinceMs < MAX_HOLD_MS) {
        setTimeout(() => this.#start(), HOLD_POLL_MS);
        return;
      }
    } else {
      this.#heldSinceMs = undefined;
    }
    this.#pumping = false;
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      this.#running++;
      this.#waiting.shift()?.();
    }
  }
}
