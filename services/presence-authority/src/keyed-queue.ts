/**
 * Runs tasks one at a time per key, in arrival order: a user's presence
 * events must not overtake each other while a roster loads. Keys with no
 * pending task hold no memory.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  constructor(private readonly onError: (key: string, error: unknown) => void) {}

  run(key: string, task: () => Promise<void>): Promise<void> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(task).catch((e: unknown) => this.onError(key, e));
    this.#tails.set(key, next);
    void next.then(() => {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    });
    return next;
  }

  /** Nothing queued or running for `key`: a task run now would see what a queued one would. */
  idle(key: string): boolean {
    return !this.#tails.has(key);
  }

  get size(): number {
    return this.#tails.size;
  }

  /** Resolves when every task queued so far has finished. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}
