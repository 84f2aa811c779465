import { constants as h2 } from 'node:http2';
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { admin, type api } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import type { Logger } from '@vigil/telemetry';
import { presenceChange, userPresence } from './convert.js';
import { ApiError } from './errors.js';
import type { OwnerClient } from './owner-client.js';

type Call = ServerWritableStream<api.presence.WatchPresenceRequest, api.presence.WatchPresenceResponse>;
type Listener = (change: admin.PresenceChanged) => void;

/** How long a stream that overflowed may take to flush its status before it is reset. */
const OVERFLOW_GRACE_MS = 250;

/**
 * One NATS subscription per watched user on this replica, shared by every
 * WatchPresence stream that names the user; it goes when the last one does.
 * Bounded by the streams' own limits (streams × JIDs per stream).
 */
export class WatchHub {
  readonly #users = new Map<string, { sub: Subscription; listeners: Set<Listener> }>();
  readonly #streams = new Set<WatchStream>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly log: Logger,
  ) {}

  get streamCount(): number {
    return this.#streams.size;
  }

  add(stream: WatchStream): void {
    this.#streams.add(stream);
  }

  remove(stream: WatchStream): void {
    this.#streams.delete(stream);
  }

  /** Calls `listener` with every change of `bareJid` from now on; returns the way to stop. */
  listen(bareJid: string, listener: Listener): () => void {
    let entry = this.#users.get(bareJid);
    if (entry === undefined) {
      const listeners = new Set<Listener>();
      const sub = this.nc.subscribe(this.subjects.watch(bareJid), {
        callback: (err, msg) => {
          if (err) return this.log.error('watch subscription failed', { user: bareJid, err });
          let change: admin.PresenceChanged;
          try {
            change = admin.PresenceChanged.decode(msg.data);
          } catch (e) {
            return this.log.warn('dropped malformed presence change', { err: e });
          }
          // The subject is a hash: check the exact user.
          const full = change.session?.fullJid ?? '';
          if (full !== bareJid && !full.startsWith(`${bareJid}/`)) return;
          for (const l of listeners) l(change);
        },
      });
      entry = { sub, listeners };
      this.#users.set(bareJid, entry);
    }
    const e = entry;
    e.listeners.add(listener);
    return () => {
      e.listeners.delete(listener);
      if (e.listeners.size === 0 && this.#users.get(bareJid) === e) {
        e.sub.unsubscribe();
        this.#users.delete(bareJid);
      }
    };
  }

  /** Resolves once the server has every subscription made so far: changes from then on are not missed. */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  /** Ends every stream (server shutdown): UNAVAILABLE, reconnect elsewhere. */
  closeAll(): void {
    for (const s of [...this.#streams]) s.fail(new ApiError(status.UNAVAILABLE, 'server shutting down; reconnect'));
  }
}

interface Position {
  epoch: number;
  counter: number;
}

/**
 * One WatchPresence stream: a snapshot per user, then changes newer than it.
 * Changes that arrive before a user's snapshot wait (bounded like the rest)
 * and are replayed if the snapshot does not already include them. Writes
 * follow the client's pace; at most `maxBuffer` changes wait for it, and one
 * more ends the stream with RESOURCE_EXHAUSTED, so a slow reader costs the
 * authority a bounded amount of memory and never holds anything up.
 */
export class WatchStream {
  readonly #queue: api.presence.WatchPresenceResponse[] = [];
  readonly #early = new Map<string, admin.PresenceChanged[]>();
  readonly #position = new Map<string, Position>();
  readonly #stops: (() => void)[] = [];
  #earlyCount = 0;
  #blocked = false;
  #closed = false;

  constructor(
    private readonly call: Call,
    private readonly jids: readonly string[],
    private readonly causes: ReadonlySet<number>,
    private readonly maxBuffer: number,
    private readonly hub: WatchHub,
    private readonly log: Logger,
  ) {
    call.on('cancelled', () => this.#dispose());
    call.on('error', () => this.#dispose());
  }

  async start(owners: OwnerClient): Promise<void> {
    this.hub.add(this);
    for (const jid of this.jids) {
      this.#early.set(jid, []);
      this.#stops.push(this.hub.listen(jid, (c) => this.#onChange(jid, c)));
    }
    try {
      await this.hub.ready();
      const snapshots = await owners.presence(this.jids, Infinity);
      for (const jid of this.jids) {
        const u = snapshots.get(jid);
        if (u === undefined || this.#closed) continue;
        const base = { epoch: u.epoch, counter: u.counter };
        this.#position.set(jid, base);
        this.#send({ event: { $case: 'snapshot', snapshot: userPresence(u) } });
        for (const c of this.#early.get(jid) ?? []) this.#onChange(jid, c);
        this.#early.delete(jid);
      }
      this.#earlyCount = 0;
    } catch (e) {
      this.fail(e instanceof ApiError ? e : new ApiError(status.INTERNAL, 'snapshot failed'));
      if (!(e instanceof ApiError)) this.log.error('watch snapshot failed', { err: e });
    }
  }

  /** Ends the stream with `error` as its status. */
  fail(error: ApiError): void {
    if (this.#closed) return;
    this.#dispose();
    this.#queue.length = 0;
    this.call.emit('error', error.toStatus());
  }

  #onChange(jid: string, c: admin.PresenceChanged): void {
    if (this.#closed) return;
    const at = this.#position.get(jid);
    if (at === undefined) {
      this.#early.get(jid)?.push(c);
      if (++this.#earlyCount > this.maxBuffer) this.#overflow();
      return;
    }
    // Already in the snapshot, or a deposed owner's late word.
    if (c.epoch < at.epoch || (c.epoch === at.epoch && c.counter <= at.counter)) return;
    at.epoch = c.epoch;
    at.counter = c.counter;
    const change = presenceChange(c);
    if (this.causes.size > 0 && !this.causes.has(change.cause)) return;
    this.#send({ event: { $case: 'change', change } });
  }

  #send(msg: api.presence.WatchPresenceResponse): void {
    if (this.#closed) return;
    if (this.#blocked) {
      this.#queue.push(msg);
      if (this.#queue.length > this.maxBuffer) this.#overflow();
      return;
    }
    if (!this.call.write(msg)) this.#block();
  }

  #block(): void {
    this.#blocked = true;
    this.call.once('drain', () => {
      this.#blocked = false;
      while (this.#queue.length > 0 && !this.#blocked && !this.#closed) {
        const next = this.#queue.shift() as api.presence.WatchPresenceResponse;
        if (!this.call.write(next)) this.#block();
      }
    });
  }

  /**
   * The client reads too slowly. The status goes out after what is already
   * in flight; a client that reads nothing at all would never get to it, so
   * after a short grace the HTTP/2 stream is reset with ENHANCE_YOUR_CALM,
   * which gRPC clients report as RESOURCE_EXHAUSTED as well.
   */
  #overflow(): void {
    this.log.warn('watch stream too slow; ending it', { peer: this.call.getPeer(), jids: this.jids.length, buffered: this.maxBuffer });
    this.fail(new ApiError(status.RESOURCE_EXHAUSTED, `the client read too slowly: more than ${this.maxBuffer} changes were waiting`));
    const timer = setTimeout(() => resetStream(this.call), OVERFLOW_GRACE_MS);
    timer.unref();
    this.call.once('finish', () => clearTimeout(timer));
  }

  #dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
    this.hub.remove(this);
  }
}

/**
 * grpc-js offers no public way to reset one stream with a chosen HTTP/2
 * code; its server call keeps the Node stream two objects down. If that
 * layout changes, the status already queued is all the client gets.
 */
function resetStream(call: Call): void {
  const stream = (call as unknown as { call?: { nextCall?: { stream?: { closed?: boolean; close?: (code: number) => void } } } }).call?.nextCall?.stream;
  if (stream !== undefined && stream.closed !== true && typeof stream.close === 'function') stream.close(h2.NGHTTP2_ENHANCE_YOUR_CALM);
}
