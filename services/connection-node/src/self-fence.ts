/**
 * The connection node's self-fencing judgement (DESIGN.md, "Self-fencing"),
 * kept apart from the timers and the NATS client so it can be checked
 * exhaustively.
 *
 * The cluster declares a node incarnation dead a node lease after the last
 * heartbeat an authority received, and an authority receives a heartbeat no
 * earlier than the node sent it. So once the NATS server has confirmed a
 * heartbeat sent at `confirmedMs` (a flush round trip), nobody can declare
 * the node dead before `confirmedMs + lease`. The node must have ended its
 * streams by then; it fences at `confirmedMs + selfFence`, which leaves the
 * rest of the lease for the check's own period and for closing the streams.
 *
 * A stall is different from silence. When the event loop was stopped (a
 * SIGSTOP, a long collection) for less than the self-fence time, the
 * heartbeats due meanwhile were never sent: the silence counted from the last
 * confirmation is then up to one heartbeat interval plus the stall, and a
 * 1 s pause just before a heartbeat read as 2 s of "cannot publish" and
 * fenced a node that DESIGN.md says must survive it. So on waking the node
 * publishes at once and, until a heartbeat sent since the stall began is
 * confirmed, allows the silence to run longer by the stall it observed, up
 * to halfway between the self-fence time and the lease and never closer to
 * the lease than two check periods: still before anyone can declare it
 * dead, but past the heartbeat that its own stall delayed. A stall of the
 * self-fence time or more fences at once, as before: the node cannot know
 * what happened meanwhile.
 */
export type FenceTimings = {
  readonly selfFenceMs: number;
  readonly nodeLeaseMs: number;
  /** How often the check runs; a check later than two periods means the loop was stalled. */
  readonly checkPeriodMs: number;
};

export type FenceVerdict =
  | { readonly kind: 'ok' }
  /** Just woke from a short stall: publish a heartbeat now (none went out since the stall began). */
  | { readonly kind: 'publish' }
  | { readonly kind: 'fence'; readonly reason: string };

const OK: FenceVerdict = { kind: 'ok' };
const PUBLISH: FenceVerdict = { kind: 'publish' };

export class SelfFence {
  #lastCheckMs: number;
  /** Send time of the newest heartbeat the NATS server confirmed. */
  #confirmedMs: number;
  /** When the last stall began; the wider limit holds until a heartbeat sent since then is confirmed. */
  #stallBeganMs = Number.NEGATIVE_INFINITY;
  /** How long that stall was: the limit widens by no more than the silence it caused. */
  #stalledMs = 0;
  #lastSentMs = Number.NEGATIVE_INFINITY;
  /** The most the limit widens to, whatever the stall. */
  readonly #wakeCapMs: number;

  constructor(
    readonly timings: FenceTimings,
    nowMs: number,
  ) {
    if (!(timings.selfFenceMs < timings.nodeLeaseMs)) {
      throw new RangeError(`self-fence time (${timings.selfFenceMs} ms) must be below the node lease (${timings.nodeLeaseMs} ms)`);
    }
    if (!(timings.checkPeriodMs > 0 && 2 * timings.checkPeriodMs < timings.selfFenceMs)) {
      throw new RangeError(`check period (${timings.checkPeriodMs} ms) must be positive and under half the self-fence time`);
    }
    this.#lastCheckMs = nowMs;
    this.#confirmedMs = nowMs;
    this.#wakeCapMs = Math.max(timings.selfFenceMs, Math.min((timings.selfFenceMs + timings.nodeLeaseMs) / 2, timings.nodeLeaseMs - 2 * timings.checkPeriodMs));
  }

  /** A heartbeat was handed to the NATS client at `atMs`. */
  sent(atMs: number): void {
    if (atMs > this.#lastSentMs) this.#lastSentMs = atMs;
  }

  /** The NATS server confirmed having the heartbeat sent at `sentAtMs`. */
  confirmed(sentAtMs: number): void {
    if (sentAtMs > this.#confirmedMs) this.#confirmedMs = sentAtMs;
  }

  /** After fencing: a fresh grace period, so an absent server does not make the node fence in a loop. */
  restart(nowMs: number): void {
    this.#confirmedMs = nowMs;
    this.#stallBeganMs = Number.NEGATIVE_INFINITY;
  }

  /** The silence allowed now: wider only until a heartbeat sent since the last stall began is confirmed. */
  #limitMs(): number {
    const { selfFenceMs } = this.timings;
    return this.#confirmedMs < this.#stallBeganMs ? Math.min(selfFenceMs + this.#stalledMs, this.#wakeCapMs) : selfFenceMs;
  }

  /** The widest the silence limit can be, for these timings. */
  get wakeCapMs(): number {
    return this.#wakeCapMs;
  }

  check(nowMs: number): FenceVerdict {
    const stalledMs = nowMs - this.#lastCheckMs;
    this.#lastCheckMs = nowMs;
    const { selfFenceMs, checkPeriodMs } = this.timings;
    if (stalledMs >= selfFenceMs) return { kind: 'fence', reason: `event loop stalled for ${Math.round(stalledMs)} ms` };
    const woke = stalledMs >= 2 * checkPeriodMs;
    if (woke) {
      // Stalls in a row before any confirmation add up: together they caused the silence.
      this.#stalledMs = this.#confirmedMs < this.#stallBeganMs ? this.#stalledMs + stalledMs : stalledMs;
      this.#stallBeganMs = nowMs - stalledMs;
    }
    const silentMs = nowMs - this.#confirmedMs;
    if (silentMs >= this.#limitMs()) return { kind: 'fence', reason: `no heartbeat confirmed for ${Math.round(silentMs)} ms` };
    // Nothing was sent since the stall began: publish now rather than at the heartbeat timer's next turn.
    return woke && this.#lastSentMs < this.#stallBeganMs ? PUBLISH : OK;
  }
}
