import type { NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { bareOf } from '@vigil/roster';
import type { Logger } from '@vigil/telemetry';
import { withTo } from './stanza-text.js';

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
}

/** A batch of fan-outs is sent once it holds this much stanza text (NATS's default limit per message is 1 MiB). */
const FAN_OUT_BATCH_BYTES = 256 * 1024;

/** Everything the authority publishes, in one place: deliveries, probes, inbound stanzas for other shards. */
export class Outbox implements OutboxPort {
  #fanOuts: cluster.FanOut[] = [];
  #fanOutBytes = 0;
  #flushScheduled = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly shardCount: number,
    /** The epoch at which this replica owns a shard, undefined when it does not. */
    private readonly epochOf: (shard: number) => number | undefined,
    private readonly log: Logger,
  ) {}

  /** A stanza serialized without 'to', addressed here to `to` (full or bare JID). */
  deliver(to: string, stanzaXml: string, fromBareJid: string, kind: cluster.DeliveryKind = K.DELIVERY_KIND_PRESENCE): void {
    this.#publishDelivery(fromBareJid || bareOf(to), {
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
   * subject (FanOut in cluster.proto): all the fan-outs decided in one turn
   * of the event loop leave as one message, and each node picks its own
   * recipients. Ordering with per-user deliveries is kept: both leave on
   * this one connection, in the order they were decided.
   */
  fanOut(to: readonly string[], stanzaXml: string, fromBareJid: string): void {
    if (to.length === 0) return;
    const shard = shardOf(fromBareJid, this.shardCount);
    const epoch = this.epochOf(shard);
    if (epoch === undefined) {
      this.log.debug('fan-out dropped: shard not owned here', { shard, from: fromBareJid });
      return;
    }
    this.#fanOuts.push({ stanzaXml, fromBareJid, shard, epoch, toJids: [...to] });
    this.#fanOutBytes += stanzaXml.length + to.reduce((n, j) => n + j.length + 2, 0);
    if (this.#fanOutBytes >= FAN_OUT_BATCH_BYTES) return this.#flushFanOuts();
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flushFanOuts());
  }

  #flushFanOuts(): void {
    this.#flushScheduled = false;
    if (this.#fanOuts.length === 0) return;
    const batch = cluster.FanOutBatch.encode({ fanOuts: this.#fanOuts }).finish();
    this.#fanOuts = [];
    this.#fanOutBytes = 0;
    this.nc.publish(this.subjects.fanOut, batch);
  }

  probe(msg: cluster.Probe): void {
    this.#handOver(this.subjects.shardProbe(shardOf(msg.toBareJid, this.shardCount)), cluster.Probe.encode(msg).finish());
  }

  inbound(msg: cluster.InboundStanza): void {
    this.#handOver(this.subjects.shardInbound(shardOf(bareOf(msg.toJid), this.shardCount)), cluster.InboundStanza.encode(msg).finish());
  }

  /**
   * Probes and inbound stanzas go to another shard's owner, which may be in
   * hand-over right now (no subscriber for a moment): sent as a request the
   * owner acknowledges once it has queued the work, retried a bounded
   * number of times across a lock TTL, so a hand-over loses none of them.
   * (Nothing waits for this: the caller's presence work goes on.)
   */
  #handOver(subject: string, data: Uint8Array): void {
    const attempt = (n: number): void => {
      this.nc.request(subject, data, { timeout: HAND_OVER_TIMEOUT_MS }).then(
        () => undefined,
        (e: unknown) => {
          if (n >= HAND_OVER_ATTEMPTS) return this.log.warn('gave up handing a stanza to another shard owner', { subject, attempts: n, err: e });
          setTimeout(() => attempt(n + 1), HAND_OVER_RETRY_MS * n);
        },
      );
    };
    attempt(1);
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
    // Decision order is delivery order: fan-outs decided earlier leave first.
    if (this.#fanOuts.length > 0) this.#flushFanOuts();
    const stamped: cluster.Delivery = { ...d, shard, epoch };
    this.nc.publish(this.subjects.deliver(bareOf(d.toJid)), cluster.Delivery.encode(stamped).finish());
  }
}
