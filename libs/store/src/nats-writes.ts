import type { NatsConnection } from '@nats-io/transport-node';

/** The parts of nats.js's ProtocolHandler (@nats-io/nats-core, 3.4) this reaches into. */
interface Protocol {
  outbound: { length(): number; size(): number; fill(buf: Uint8Array, ...payloads: Uint8Array[]): void };
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  close(err?: Error): Promise<void>;
}

/** What `writeOncePerTurn` leaves the caller. */
export interface NatsWrites {
  /** Writes what is pending now (at shutdown, or when a caller knows its batch must leave at once). */
  flushNow(): void;
  /**
   * Runs `fn` right before every deferred write, so that a caller batching
   * its own publications (an outbox) adds them to the same write instead of
   * making a second one. The caller calls `schedule()` when its batch starts.
   */
  beforeWrite(fn: () => void): void;
  /** Makes sure a deferred write happens at the end of this turn. */
  schedule(): void;
}

const TE = new TextEncoder();
const INSTALLED = new WeakMap<object, NatsWrites>();

/**
 * nats.js writes its pending output at the next microtask checkpoint after
 * the first command: in a process that runs many async tasks per event-loop
 * turn (a login is a chain of awaits on both sides), every checkpoint that
 * published something costs a socket write, which was the largest item of
 * the connection nodes' and the authority's CPU during logins. This makes
 * the connection write at most once per turn (setImmediate) instead, and
 * when its buffer reaches nats.js's own limit, as before. Nothing else
 * changes: commands keep their order, `flush()` (PING) still writes at once,
 * and `close()` writes what is pending first. Reaches into nats.js
 * internals (docs/decisions.md, "NATS writes once per event-loop turn");
 * nats-writes.test.ts fails if they change. Idempotent per connection.
 */
export function writeOncePerTurn(nc: NatsConnection): NatsWrites {
  const ph = (nc as unknown as { protocol?: Protocol }).protocol;
  if (ph === undefined || typeof ph.flushPending !== 'function' || typeof ph.outbound?.fill !== 'function') {
    throw new TypeError('writeOncePerTurn: this nats.js connection does not have the expected ProtocolHandler');
  }
  const known = INSTALLED.get(ph);
  if (known !== undefined) return known;
  let scheduled = false;
  const hooks: (() => void)[] = [];
  const flush = (): void => {
    // Publications the hooks make find a write already scheduled, and go out in this one.
    for (const fn of hooks) fn();
    scheduled = false;
    ph.flushPending();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  ph.sendCommand = function sendCommand(this: Protocol, cmd, ...payloads) {
    const wasEmpty = this.outbound.length() === 0;
    this.outbound.fill(typeof cmd === 'string' ? TE.encode(cmd) : cmd, ...payloads);
    if (this.outbound.size() >= this.pendingLimit) this.flushPending();
    else if (wasEmpty) schedule();
  };
  const close = ph.close.bind(ph);
  ph.close = (err?: Error) => {
    ph.flushPending();
    return close(err);
  };
  const writes: NatsWrites = { flushNow: () => ph.flushPending(), beforeWrite: (fn) => hooks.push(fn), schedule };
  INSTALLED.set(ph, writes);
  return writes;
}
