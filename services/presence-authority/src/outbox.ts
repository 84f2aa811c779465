import type { NatsConnection } from '@nats-io/transport-node';
import { writeOncePerTurn, type NatsWrites } from '@vigil/store';
import { cluster } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { bareOf } from '@vigil/roster';
import type { Logger } from '@vigil/telemetry';
import { withTo } from './stanza-text.js';
import { HandOver } from './hand-over.js';

const K = cluster.DeliveryKind;
/** Hand-over of a probe or inbound stanza: attempts, per-attempt timeout, base pause (covers a 3 s lock TTL and a takeover). */
const HAND_OVER_ATTEMPTS = 8;
const HAND_OVER_TIMEOUT_MS = 1000;
const HAND_OVER_RETRY_MS = 250;

/** What the authority's parts publish; Outbox puts it on NATS, tests can route it in memory. */
export interface OutboxPort {
  /** A stanza serialized without 'to', addressed to `to` (full or bare JID). */
  deliver(to: string, stanzaXml: string, fromBareJid: string, kind?: cluster.DeliveryKind): void;
  /** A server push (roster or block list) to the user's interested resources. */
  push(userBareJid: string, stanzaXml: string, kind: cluster.DeliveryKind, blockList?: readonly string[]): void;
  /** One presence stanza (serialized without 'to') to many recipients (full or bare JIDs), as deliver() to each would. */
  fanOut(to: readonly string[], stanzaXml: string, fromBareJid: string): void;
  probe(msg: cluster.Probe): void;
  inbound(msg: cluster.InboundStanza): void;
  /**
   * Any other publication that must keep its place after what was decided
   * before it: iq results and admin answers (to `msg.reply`), kick requests.
   * A reply sent around the outbox could overtake the push it answers for.
   */
  send(subject: string, data: Uint8Array): void;
}

/** A batch of fan-outs is sent once it holds this much stanza text (NATS's default limit per message is 1 MiB). */
const FAN_OUT_BATCH_BYTES = 256 * 1024;

/** One publication waiting for the end of the event-loop turn: a message, or a batch of fan-outs still open. */
type Outgoing =
  | { readonly kind: 'message'; readonly subject: string; readonly data: Uint8Array; readonly reply: string | undefined }
  | { readonly kind: 'fan-out'; readonly fanOuts: cluster.FanOut[]; bytes: number };

/**
 * Everything the authority publishes, in one place: deliveries, fan-outs,
 * probes, inbound stanzas for other shards. Publications wait in one
 * ordered queue until the end of the event-loop turn and then go out
 * together: nats.js writes to its socket at every microtask checkpoint, so
 * publishing from many promise continuations cost one write syscall per
 * few messages; now it is one per turn, in the order things were decided.
 */
export class Outbox implements OutboxPort {
  readonly #acked: HandOver;
  readonly #writes: NatsWrites;
  #out: Outgoing[] = [];
  #flushScheduled = false;
  #localProbe: (msg: cluster.Probe) => boolean = () => false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly shardCount: number,
    /** The epoch at which this replica owns a shard, undefined when it does not. */
    private readonly epochOf: (shard: number) => number | undefined,
    private readonly log: Logger,
  ) {
    this.#writes = writeOncePerTurn(nc);
    // The batch joins the connection's one write per turn (see writeOncePerTurn).
    this.#writes.beforeWrite(() => this.#flush());
    this.#acked = new HandOver(nc, log, { attempts: HAND_OVER_ATTEMPTS, timeoutMs: HAND_OVER_TIMEOUT_MS, retryMs: HAND_OVER_RETRY_MS }, {
      publish: (subject, data, reply) => this.#enqueue({ kind: 'message', subject, data, reply }),
    });
  }

  /**
   * A stanza serialized without 'to', addressed here to `to` (full or bare
   * JID). It is stamped with the shard this replica decided for: the
   * sender's when it owns it (a probe answer, its own presence), otherwise
   * the recipient's (an inbound subscription request, handled by the
   * recipient's owner).
   *
   * Presence to one session goes on the fan-out subject, which every node
   * has listened on since it started. On its user's delivery subject it
   * could be lost: in a NATS cluster a node's new subscription reaches the
   * other servers over the routes on its own path, so the answer to the
   * probe a session sends at login can get to a server that does not yet
   * know the session is there.
   */
  deliver(to: string, stanzaXml: string, fromBareJid: string, kind: cluster.DeliveryKind = K.DELIVERY_KIND_PRESENCE): void {
    // The sender's shard, hashed once: a login's probe answers come here one per contact.
    const fromShard = fromBareJid === '' ? -1 : shardOf(fromBareJid, this.shardCount);
    const fromEpoch = fromShard === -1 ? undefined : this.epochOf(fromShard);
    const about = fromEpoch !== undefined ? fromBareJid : bareOf(to);
    if (kind === K.DELIVERY_KIND_PRESENCE && to.includes('/')) {
      if (fromEpoch !== undefined) return this.#fanOutIn(fromShard, fromEpoch, [to], stanzaXml, fromBareJid);
      return this.#fanOutAs(about, [to], stanzaXml, fromBareJid);
    }
    this.#publishDelivery(about, {
      toJid: to, stanzaXml: withTo(stanzaXml, to), shard: 0, epoch: 0, kind, fromBareJid, blockList: [],
    });
  }

  /** A server push (roster or block list) to the user's interested resources. */
  push(userBareJid: string, stanzaXml: string, kind: cluster.DeliveryKind, blockList: readonly string[] = []): void {
    this.#publishDelivery(userBareJid, {
      toJid: userBareJid, stanzaXml: withTo(stanzaXml, userBareJid), shard: 0, epoch: 0, kind, fromBareJid: '', blockList: [...blockList],
    });
  }

  /**
   * Presence broadcasts go to every connection node in batches on one
   * subject (FanOut in cluster.proto): consecutive fan-outs share one
   * message (up to FAN_OUT_BATCH_BYTES), and each node picks its own
   * recipients.
   */
  fanOut(to: readonly string[], stanzaXml: string, fromBareJid: string): void {
    this.#fanOutAs(fromBareJid, to, stanzaXml, fromBareJid);
  }

  /** A fan-out stamped with the shard of `aboutBareJid` (its owner decided it). */
  #fanOutAs(aboutBareJid: string, to: readonly string[], stanzaXml: string, fromBareJid: string): void {
    if (to.length === 0) return;
    const shard = shardOf(aboutBareJid, this.shardCount);
    const epoch = this.epochOf(shard);
    if (epoch === undefined) {
      this.log.debug('fan-out dropped: shard not owned here', { shard, from: fromBareJid });
      return;
    }
    this.#fanOutIn(shard, epoch, to, stanzaXml, fromBareJid);
  }

  /**
   * A fan-out stamped with a shard this replica owns at `epoch`. `to` is
   * kept as given until the batch is encoded (no copy per fan-out): callers
   * pass arrays nobody changes afterwards (a roster view's subscribers).
   */
  #fanOutIn(shard: number, epoch: number, to: readonly string[], stanzaXml: string, fromBareJid: string): void {
    let bytes = stanzaXml.length;
    for (const j of to) bytes += j.length + 2;
    const last = this.#out[this.#out.length - 1];
    const entry: cluster.FanOut = { stanzaXml, fromBareJid, shard, epoch, toJids: to as string[] };
    if (last?.kind === 'fan-out' && last.bytes < FAN_OUT_BATCH_BYTES) {
      last.fanOuts.push(entry);
      last.bytes += bytes;
      return;
    }
    this.#enqueue({ kind: 'fan-out', fanOuts: [entry], bytes });
  }

  #enqueue(o: Outgoing): void {
    this.#out.push(o);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#writes.schedule();
  }

  send(subject: string, data: Uint8Array): void {
    this.#enqueue({ kind: 'message', subject, data, reply: undefined });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    this.#out = [];
    for (const o of out) {
      if (o.kind === 'message') this.nc.publish(o.subject, o.data, o.reply === undefined ? undefined : { reply: o.reply });
      else this.nc.publish(this.subjects.fanOut, cluster.FanOutBatch.encode({ fanOuts: o.fanOuts }).finish());
    }
  }

  /**
   * Probes for shards this replica serves are handed to `handle` in-process
   * instead of over NATS (a login sends one per contact, each acknowledged):
   * `handle` returns false for a shard it does not serve, and the probe then
   * travels as before.
   */
  handleProbesLocally(handle: (msg: cluster.Probe) => boolean): void {
    this.#localProbe = handle;
  }

  probe(msg: cluster.Probe): void {
    if (this.#localProbe(msg)) return;
    this.#handOver(this.subjects.shardProbe(shardOf(msg.toBareJid, this.shardCount)), cluster.Probe.encode(msg).finish());
  }

  inbound(msg: cluster.InboundStanza): void {
    this.#handOver(this.subjects.shardInbound(shardOf(bareOf(msg.toJid), this.shardCount)), cluster.InboundStanza.encode(msg).finish());
  }

  /**
   * Probes and inbound stanzas go to another shard's owner, which may be in
   * hand-over right now (no subscriber for a moment): the owner acknowledges
   * once it has queued the work, and unacknowledged ones are sent again a
   * bounded number of times across a lock TTL (HandOver), so a hand-over
   * loses none of them. Nothing waits for this: the presence work goes on.
   */
  #handOver(subject: string, data: Uint8Array): void {
    this.#acked.send(subject, data);
  }

  /** Stops retrying what is still unacknowledged (at shutdown, after the shards were handed over). */
  stop(): void {
    this.#flush();
    this.#writes.flushNow();
    this.#acked.stop();
  }

  /**
   * Every delivery carries the shard and epoch of the owner that decided it
   * (the user it is about), so nodes can drop a deposed owner's late words;
   * and a replica that no longer owns that shard says nothing at all.
   */
  #publishDelivery(aboutBareJid: string, d: cluster.Delivery): void {
    const shard = shardOf(aboutBareJid, this.shardCount);
    const epoch = this.epochOf(shard);
    if (epoch === undefined) {
      this.log.debug('delivery dropped: shard not owned here', { shard, to: d.toJid });
      return;
    }
    const stamped: cluster.Delivery = { ...d, shard, epoch };
    this.#enqueue({ kind: 'message', subject: this.subjects.deliver(bareOf(d.toJid)), data: cluster.Delivery.encode(stamped).finish(), reply: undefined });
  }
}
