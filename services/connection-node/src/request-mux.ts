import { performance } from 'node:perf_hooks';
import { createInbox, NoRespondersError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { PendingRequests } from './pending-requests.js';

/** No reply within the request's time. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(`no reply from '${subject}' within ${timeoutMs} ms`);
  }
}

/** The multiplexer was closed (the node is stopping) before the reply came. */
export class RequestsClosedError extends Error {
  override readonly name = 'RequestsClosedError';
  constructor(readonly subject: string) {
    super(`request to '${subject}' abandoned: the request multiplexer is closed`);
  }
}

/** Marks an expired request until its own reject names subject and timeout. */
const TIMED_OUT = new Error('timed out');

/** Sends a request's message; the caller decides when (ClusterLink sends once per event-loop turn). */
export type SendRequest = (subject: string, data: Uint8Array, replyTo: string) => void;

/**
 * Requests and their replies over one inbox subscription, instead of
 * nats.js `request()`: that builds a request object, a timer and, when it
 * ends, an error object with a stack trace for every call, which was 8 % of
 * a node's CPU during logins. Here a request is a map entry; one sweep timer,
 * running only while requests wait, fails those past their deadline (so a
 * timeout fires up to one sweep period late). A reply with NATS's
 * no-responders status (503, empty body) fails its request at once with
 * nats.js's `NoRespondersError`, as `request()` does.
 */
export class RequestMux {
  readonly #pending = new PendingRequests<Msg>();
  readonly #prefix: string;
  readonly #sub: Subscription;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    nc: NatsConnection,
    private readonly sweepMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {
    const inbox = createInbox();
    this.#prefix = `${inbox}.`;
    this.#sub = nc.subscribe(`${inbox}.*`, { callback: this.#onReply });
  }

  /** Requests waiting for a reply. */
  get waiting(): number {
    return this.#pending.size;
  }

  /**
   * Registers a request and hands its message to `send` (at once; `send` may
   * queue it). Resolves with the reply; rejects with RequestTimeoutError,
   * NoRespondersError, RequestsClosedError or whatever `send` throws.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number, send: SendRequest): Promise<Msg> {
    if (this.#closed) return Promise.reject(new RequestsClosedError(subject));
    return new Promise<Msg>((resolve, reject) => {
      const token = this.#pending.add(subject, this.now() + timeoutMs, {
        resolve,
        reject: (e) => reject(e === TIMED_OUT ? new RequestTimeoutError(subject, timeoutMs) : e),
      });
      this.#startSweep();
      try {
        send(subject, data, this.#prefix + token);
      } catch (e) {
        this.#pending.reject(token, () => (e instanceof Error ? e : new Error(String(e))));
      }
    });
  }

  /** Fails every waiting request and stops listening. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#pending.closeAll((subject) => new RequestsClosedError(subject));
    this.#sub.unsubscribe();
  }

  readonly #onReply = (err: Error | null, msg: Msg): void => {
    const token = msg.subject.startsWith(this.#prefix) ? msg.subject.slice(this.#prefix.length) : '';
    if (err !== null) this.#pending.reject(token, () => err);
    else if (msg.data.length === 0 && msg.headers?.code === 503) this.#pending.reject(token, (subject) => new NoRespondersError(subject));
    else this.#pending.resolve(token, msg);
    this.#stopSweepWhenIdle();
  };

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      // Each request's own reject turns the marker into an error naming its subject and timeout.
      this.#pending.expire(this.now(), () => TIMED_OUT);
      this.#stopSweepWhenIdle();
    }, this.sweepMs);
    this.#sweep.unref();
  }

  #stopSweepWhenIdle(): void {
    if (this.#pending.size > 0 || this.#sweep === undefined) return;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
