/**
 * Writes that must happen but must not compete with fan-out: KV writes of
 * the session registry and last-seen. Each starts on a later turn of the
 * event loop (setImmediate), and at most `concurrency` run at once, so a
 * mass expiry announces every unavailable first and stores afterwards. The
 * queue is bounded; beyond it the oldest caller waits (callers serialize per
 * session, so nothing is reordered).
 */
export class BackgroundWrites {
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(private readonly concurrency: number) {}

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
    setImmediate(() => {
      this.#pumping = false;
      while (this.#running < this.concurrency && this.#waiting.length > 0) {
        this.#running++;
        this.#waiting.shift()?.();
      }
    });
  }
}
