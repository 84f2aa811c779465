/** A monotonic clock that moves only when a test says so. */
export class FakeClock {
  #nowMs: number;

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  readonly now = (): number => this.#nowMs;

  advance(ms: number): number {
    if (ms < 0) throw new RangeError('a monotonic clock never goes back');
    this.#nowMs += ms;
    return this.#nowMs;
  }
}
