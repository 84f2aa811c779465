import { performance } from 'node:perf_hooks';

/** When writes that can wait start (see BackgroundWrites). */
export interface WritePacing {
  /** Deferrable writes start once none was queued for this long, in ms. */
  readonly quietMs: number;
  /** …or once the oldest has waited this long, in ms, even while more keep coming. */
  readonly maxDelayMs: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

/**
 * Session ends come in bursts (a mass disconnect, an expired node): the
 * erasures and last-seen writes they queue wait for the burst to pause for
 * 500 ms, at most 2 s, so the burst's unavailable stanzas are announced
 * first (docs/decisions.md, "Writes of ended sessions wait for the burst").
 * With 50 ms or 250 ms, the pauses inside a 5,000-client mass disconnect on
 * two busy cores were long enough to let most writes in among the fan-out.
 */
export const DEFAULT_PACING: WritePacing = { quietMs: 500, maxDelayMs: 2000, now: () => performance.now() };

/** Not deferrable: starts in this turn when there is room, otherwise on a later turn, at the concurrency limit. */
const URGENT = false;

interface Waiting {
  readonly start: () => void;
  readonly sinceMs: number;
}

/**
 * Writes that must happen but must not compete with fan-out: KV writes of
 * the session registry and last-seen. An urgent write with room to run
 * starts after its caller's synchronous work, in the same turn; any other
 * starts on a later turn of the event loop (setImmediate); at most
 * `concurrency` run at once.
 *
 * Writes marked deferrable (the erasure of an ended session's registry
 * entry, its last-seen) also wait while a burst of them is still being
 * queued: until none was queued for `pacing.quietMs`, or the oldest has
 * waited `pacing.maxDelayMs`, or `hurry()`. During a mass disconnect the
 * session ends reach the authority one turn at a time over a second or
 * more; started at once, their two JetStream writes each (about 120 µs of
 * CPU per session in the authority and nats-server together) shared the two
 * cores with the fan-out they followed. Other writes (a new session's
 * registry entry) never wait for a pause, and go first.
 *
 * Waiting writes are held as closures, one per write; the queue is as long
 * as the sessions ending in one burst (bounded by the sessions the shards
 * hold), since every one of them must be written eventually.
 */
export class BackgroundWrites {
  #running = 0;
  readonly #urgent: Waiting[] = [];
  readonly #deferred: Waiting[] = [];
  #deferredHead = 0;
  #lastDeferredMs = -Infinity;
  #hurrying = false;
  #pumping = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly concurrency: number,
    private readonly pacing: WritePacing = DEFAULT_PACING,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer ≥ 1, got ${concurrency}`);
    if (!(pacing.quietMs >= 0) || !(pacing.maxDelayMs >= 0)) throw new RangeError(`quietMs and maxDelayMs must be ≥ 0, got ${pacing.quietMs} and ${pacing.maxDelayMs}`);
  }

  run<T>(task: () => Promise<T>, deferrable: boolean = URGENT): Promise<T> {
    if (!deferrable && this.#urgent.length === 0 && this.#running < this.concurrency) {
      // Room for it: it starts in this turn, once the caller's synchronous work is done (a microtask), so its NATS
      // publish joins the turn's one socket write (writeOncePerTurn) instead of making another on the next turn;
      // the caller's fan-out was decided first all the same. A login's registry write cost the authority a write
      // system call of its own.
      this.#running++;
      return Promise.resolve().then(() => this.#started(task));
    }
    return new Promise<void>((resolve) => {
      const now = this.pacing.now();
      if (deferrable) {
        this.#deferred.push({ start: resolve, sinceMs: now });
        this.#lastDeferredMs = now;
      } else {
        this.#urgent.push({ start: resolve, sinceMs: now });
      }
      this.#pump();
    }).then(() => this.#started(task));
  }

  /** Runs a task counted in #running already. */
  async #started<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  get pending(): number {
    return this.#urgent.length + this.#deferred.length - this.#deferredHead + this.#running;
  }

  /** Writes waiting for a pause (not started yet). */
  get deferred(): number {
    return this.#deferred.length - this.#deferredHead;
  }

  /** Every deferrable write queued so far starts as soon as the concurrency allows (a hand-over, a shutdown). */
  hurry(): void {
    if (this.deferred === 0) return;
    this.#hurrying = true;
    this.#pump();
  }

  /**
   * Deferrable writes start without waiting for a pause until the returned
   * function is called: also those queued later, such as an erasure chained
   * behind its session's save still in flight when a hand-over's flush began
   * (`hurry()` alone would miss it, and the flush would wait for the pause).
   */
  hurryUntilReleased(): () => void {
    this.#hurryHolds++;
    this.#pump();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#hurryHolds--;
    };
  }

  #hurryHolds = 0;

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    setImmediate(this.#startWaiting);
  }

  readonly #startWaiting = (): void => {
    this.#pumping = false;
    while (this.#running < this.concurrency && this.#urgent.length > 0) {
      this.#running++;
      this.#urgent.shift()?.start();
    }
    if (this.deferred === 0) {
      this.#hurrying = false;
      return;
    }
    const wait = this.#deferredWaitMs();
    if (wait > 0) {
      this.#wakeIn(wait);
      return;
    }
    while (this.#running < this.concurrency && this.#deferredHead < this.#deferred.length) {
      this.#running++;
      const next = this.#deferred[this.#deferredHead];
      this.#deferred[this.#deferredHead++] = DONE;
      next?.start();
    }
    if (this.#deferredHead === this.#deferred.length) {
      this.#deferred.length = 0;
      this.#deferredHead = 0;
      this.#hurrying = false;
    } else if (this.#deferredHead > 1024 && this.#deferredHead * 2 > this.#deferred.length) {
      this.#deferred.splice(0, this.#deferredHead);
      this.#deferredHead = 0;
    }
  };

  /** How long the deferrable writes must still wait (0: they may start). */
  #deferredWaitMs(): number {
    if (this.#hurrying || this.#hurryHolds > 0) return 0;
    const now = this.pacing.now();
    const oldest = this.#deferred[this.#deferredHead]?.sinceMs ?? now;
    const untilQuiet = this.#lastDeferredMs + this.pacing.quietMs - now;
    const untilOverdue = oldest + this.pacing.maxDelayMs - now;
    return Math.max(0, Math.min(untilQuiet, untilOverdue));
  }

  /** One timer at a time: the pump looks again when the pause or the oldest write's delay may be over. */
  #wakeIn(ms: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, Math.ceil(ms));
  }
}

const DONE: Waiting = { start: () => undefined, sinceMs: 0 };
