import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '@vigil/telemetry';

export interface HandOverOptions {
  /** Attempts before giving up (each logged at the end only). */
  readonly attempts: number;
  /** An attempt not acknowledged in this long is sent again. */
  readonly timeoutMs: number;
  /** Pause before attempt n+1 is n times this (no subscriber: the owner is changing). */
  readonly retryMs: number;
}

interface Pending {
  readonly subject: string;
  readonly data: Uint8Array;
  attempt: number;
  /** Monotonic time after which the attempt counts as lost (or, while waiting to retry, when to send again). */
  dueMs: number;
  /** Sent and waiting for its acknowledgement (false: waiting to be sent again). */
  inFlight: boolean;
}

/**
 * Messages another shard's owner must acknowledge (probes, inbound
 * stanzas): published with a reply subject on one inbox of ours, retried
 * until acknowledged or out of attempts. Unlike nats.js requests, this keeps
 * no timer and builds no error object per message (the probe path sends 20
 * per login): one subscription, one map, one sweep.
 */
export class HandOver {
  readonly #inbox = createInbox('_INBOX_VIGIL');
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #sweep: NodeJS.Timeout;
  #seq = 0;
  readonly #publishTo: (subject: string, data: Uint8Array, reply: string) => void;
  private readonly now: () => number;

  constructor(
    nc: NatsConnection,
    private readonly log: Logger,
    private readonly options: HandOverOptions,
    io: { readonly publish?: (subject: string, data: Uint8Array, reply: string) => void; readonly now?: () => number } = {},
  ) {
    this.#publishTo = io.publish ?? ((subject, data, reply) => nc.publish(subject, data, { reply }));
    this.now = io.now ?? (() => performance.now());
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => (err ? log.error('hand-over inbox failed', { err }) : this.#onReply(msg)) });
    this.#sweep = setInterval(() => this.#check(), Math.max(10, Math.floor(Math.min(options.timeoutMs, options.retryMs) / 2)));
    this.#sweep.unref();
  }

  /** Messages not yet acknowledged. */
  get pending(): number {
    return this.#pending.size;
  }

  send(subject: string, data: Uint8Array): void {
    const id = ++this.#seq;
    const p: Pending = { subject, data, attempt: 0, dueMs: 0, inFlight: false };
    this.#pending.set(id, p);
    this.#publish(id, p);
  }

  stop(): void {
    clearInterval(this.#sweep);
    this.#sub.unsubscribe();
    if (this.#pending.size > 0) this.log.warn('stopping with unacknowledged hand-overs', { pending: this.#pending.size });
    this.#pending.clear();
  }

  #publish(id: number, p: Pending): void {
    p.attempt++;
    p.inFlight = true;
    p.dueMs = this.now() + this.options.timeoutMs;
    this.#publishTo(p.subject, p.data, `${this.#inbox}.${id}`);
  }

  #onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    const p = this.#pending.get(id);
    if (p === undefined) return; // a late acknowledgement of a resent message
    // NATS's "no responders" status: nobody owns the shard right now; try again after a pause.
    if (msg.data.length === 0 && msg.headers?.code === 503) return this.#failed(id, p, 'no responders');
    this.#pending.delete(id);
  }

  #failed(id: number, p: Pending, why: string): void {
    if (p.attempt >= this.options.attempts) {
      this.#pending.delete(id);
      this.log.warn('gave up handing a stanza to another shard owner', { subject: p.subject, attempts: p.attempt, why });
      return;
    }
    p.inFlight = false;
    p.dueMs = this.now() + this.options.retryMs * p.attempt;
  }

  #check(): void {
    const now = this.now();
    for (const [id, p] of this.#pending) {
      if (p.dueMs > now) continue;
      if (p.inFlight) this.#failed(id, p, 'not acknowledged in time');
      else this.#publish(id, p);
    }
  }
}
