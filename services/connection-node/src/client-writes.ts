/** A client connection whose writes are corked until `uncork()` (TcpConnection). */
export interface Corked {
  uncork(): void;
}

/**
 * When the corked client connections of a node write out.
 *
 * Normally at the end of the event-loop turn that wrote to them (a
 * `process.nextTick`), so a reply leaves at once. During a burst of
 * deliveries (the InboundQueue is working off a backlog in slices) they
 * stay corked across slices, for at most `holdMs` after the burst's first
 * held write, and go out together when the backlog is worked off or the
 * hold ends. Why: in a mass disconnect each observer gets a few stanzas per
 * 50 ms slice (40 in all at `mass-disconnect 5000`), so writing at every
 * slice cost about one socket write per stanza on the node and one socket
 * read per stanza in the clients; held for up to `holdMs`, a client's
 * stanzas of several slices leave in one write (docs/decisions.md,
 * "Client writes held across slices during a burst").
 *
 * Invariant: while holding, the queue that called `hold()` has work left
 * and a drain scheduled, which calls `releaseIfDue()` again; so nothing
 * stays corked for longer than `holdMs` plus one slice.
 */
export class ClientWrites {
  #holding = false;
  #heldSinceMs = 0;
  /** Connections corked while holding, in the order they were first written. Bounded by the node's connections. */
  #held: Corked[] = [];

  constructor(
    /** The longest a held write waits for the end of a burst, in ms. 0: never hold (write at the end of each turn). */
    private readonly holdMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isFinite(holdMs) || holdMs < 0) throw new RangeError(`holdMs must be a finite number ≥ 0, got ${holdMs}`);
  }

  get holding(): boolean {
    return this.#holding;
  }

  /** How many connections wait for the release. */
  get heldConnections(): number {
    return this.#held.length;
  }

  /** A connection was just corked: it writes at the end of this turn, or at the release when a burst is being held. */
  corked(c: Corked): void {
    if (this.#holding) this.#held.push(c);
    else process.nextTick(uncork, c);
  }

  /** A slice of a backlog starts: writes corked from now on wait for `releaseIfDue`. */
  hold(): void {
    if (this.holdMs === 0 || this.#holding) return;
    this.#holding = true;
    this.#heldSinceMs = this.now();
  }

  /**
   * A slice ended: release when nothing is left to do (`backlog` false) or
   * the hold has lasted `holdMs`. Returns whether it released.
   */
  releaseIfDue(backlog: boolean): boolean {
    if (!this.#holding) return false;
    if (backlog && this.now() - this.#heldSinceMs < this.holdMs) return false;
    this.release();
    return true;
  }

  /** Every held connection writes now (also at shutdown). */
  release(): void {
    this.#holding = false;
    const held = this.#held;
    this.#held = [];
    for (const c of held) uncork(c);
  }
}

function uncork(c: Corked): void {
  c.uncork();
}
