import { performance } from 'node:perf_hooks';
import type { ClientWrites } from './client-writes.js';

/**
 * What the node does for its clients with what arrives from NATS
 * (deliveries, fan-out batches, kicks), in arrival order, a time slice per
 * event-loop turn.
 *
 * Why not at once, in the subscription callback: nats.js reads a socket
 * chunk and dispatches every message in it synchronously, so while the node
 * writes a large fan-out to its clients (a crashed node's 100,000
 * unavailable stanzas) nothing else on the NATS connection is read — among
 * it the PONG that confirms the node's last heartbeat. That PONG then waits
 * behind seconds of client writes and the node fences itself ("no
 * heartbeat confirmed") although the server had every heartbeat. Queued,
 * the messages are only decoded and appended while reading; the client
 * writes run afterwards, at most `sliceMs` per turn, so the next socket
 * reads (and their PONGs) come between slices.
 *
 * One queue for every kind keeps their order: a roster push and the
 * presence that follows it, an unavailable and the kick that follows it.
 */
export class InboundQueue {
  #items: (() => void)[] = [];
  #head = 0;
  #scheduled = false;

  constructor(
    private readonly sliceMs: number,
    /** An item that throws is reported here and the queue goes on. */
    private readonly onError: (e: unknown) => void,
    /** Client writes made by the items: held across the slices of a backlog (see ClientWrites). */
    private readonly writes?: ClientWrites,
  ) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: () => void): void {
    this.#items.push(item);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Runs everything queued now (shutdown). */
  drainAll(): void {
    this.#run(Infinity);
    this.writes?.release();
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    this.writes?.hold();
    try {
      this.#run(performance.now() + this.sliceMs);
    } finally {
      // Also when onError itself threw: a hold must never outlive its drain, or every client write of the node would wait.
      // Released when the backlog is worked off or the hold is over; otherwise the next slice, scheduled below, asks again.
      this.writes?.releaseIfDue(this.length > 0);
      if (this.length > 0 && !this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#drain);
      }
    }
  };

  #run(deadline: number): void {
    // Checking the clock every item would cost more than most items; every 16 is within a slice's precision.
    for (let n = 0; this.#head < this.#items.length; n++) {
      if ((n & 15) === 15 && performance.now() >= deadline) break;
      const item = this.#items[this.#head];
      this.#items[this.#head++] = NOOP;
      try {
        item?.();
      } catch (e) {
        this.onError(e);
      }
    }
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

const NOOP = (): void => undefined;
