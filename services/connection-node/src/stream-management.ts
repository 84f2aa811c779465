/** XEP-0198 Stream Management, version 3. */
export const NS_SM = 'urn:xmpp:sm:3';

/** Sequence numbers wrap at 2^32 (XEP-0198 §4: 'h' is an unsigned 32-bit integer). */
const MOD = 2 ** 32;

/** Parses an 'h' attribute: a decimal unsigned 32-bit integer, or undefined when it is anything else. */
export function parseH(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  const n = Number(value);
  return n < MOD ? n : undefined;
}

export type AckOutcome = { readonly kind: 'ok'; readonly acknowledged: number } | { readonly kind: 'too-high'; readonly sent: number };

/**
 * The counters and the retransmission queue of one managed stream: how many
 * of the client's stanzas the server has handled (reported in `<a h/>`), and
 * every stanza sent to the client that it has not acknowledged yet (resent on
 * resumption, bounced when the session ends without one).
 */
export class SmQueue {
  #handled = 0;
  /** Outbound stanzas the client acknowledged so far (mod 2^32). */
  #acked = 0;
  /** Unacknowledged stanzas, oldest first, from #head on (a moving head keeps acks O(1) amortised). */
  #queue: string[] = [];
  #head = 0;

  /** `startAcked`: where the outbound count starts (0 for a new stream; tests use it to cross the 2^32 wrap). */
  constructor(startAcked = 0) {
    this.#acked = startAcked % MOD;
  }

  /** The 'h' to report: client stanzas handled since `<enable/>` (mod 2^32). */
  get handled(): number {
    return this.#handled;
  }

  get unackedCount(): number {
    return this.#queue.length - this.#head;
  }

  /** What the server has sent in all (mod 2^32): acknowledged plus outstanding. */
  get sentCount(): number {
    return (this.#acked + this.unackedCount) % MOD;
  }

  /** One more of the client's stanzas handled. */
  handledOne(): void {
    this.#handled = (this.#handled + 1) % MOD;
  }

  /** One more stanza to the client, kept until acknowledged. */
  sent(xml: string): void {
    this.#queue.push(xml);
  }

  /**
   * The client's `<a h/>` (or the 'h' of its `<resume/>`): drops what it
   * acknowledges. An 'h' beyond what was sent is the client's error
   * (XEP-0198 §4 `<handled-count-too-high/>`); an 'h' below the last one
   * acknowledges nothing new — counters only move forward, modulo 2^32.
   */
  ack(h: number): AckOutcome {
    const n = (h - this.#acked + MOD) % MOD;
    // More than half the counter space ahead is an 'h' behind the last one (a late or repeated <a/>).
    if (n >= MOD / 2) return { kind: 'ok', acknowledged: 0 };
    if (n > this.unackedCount) return { kind: 'too-high', sent: this.sentCount };
    this.#head += n;
    this.#acked = h;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return { kind: 'ok', acknowledged: n };
  }

  /** Unacknowledged stanzas, oldest first. */
  unacked(): readonly string[] {
    return this.#queue.slice(this.#head);
  }

  /** Empties the queue and returns what was in it (the session ends: bounce or log them). */
  takeUnacked(): string[] {
    const rest = this.#queue.slice(this.#head);
    this.#acked = (this.#acked + rest.length) % MOD;
    this.#queue = [];
    this.#head = 0;
    return rest;
  }
}
