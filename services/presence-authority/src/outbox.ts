import type { NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { bareOf } from '@vigil/roster';
import type { Logger } from '@vigil/telemetry';
import { withTo } from './stanza-text.js';

const K = cluster.DeliveryKind;

/** What the authority's parts publish; Outbox puts it on NATS, tests can route it in memory. */
export interface OutboxPort {
  /** A stanza serialized without 'to', addressed to `to` (full or bare JID). */
  deliver(to: string, stanzaXml: string, fromBareJid: string, kind?: cluster.DeliveryKind): void;
  /** A server push (roster or block list) to the user's interested resources. */
  push(userBareJid: string, stanzaXml: string, kind: cluster.DeliveryKind, blockList?: readonly string[]): void;
  probe(msg: cluster.Probe): void;
  inbound(msg: cluster.InboundStanza): void;
}

/** Everything the authority publishes, in one place: deliveries, probes, inbound stanzas for other shards. */
export class Outbox implements OutboxPort {
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

  probe(msg: cluster.Probe): void {
    this.nc.publish(this.subjects.shardProbe(shardOf(msg.toBareJid, this.shardCount)), cluster.Probe.encode(msg).finish());
  }

  inbound(msg: cluster.InboundStanza): void {
    this.nc.publish(this.subjects.shardInbound(shardOf(bareOf(msg.toJid), this.shardCount)), cluster.InboundStanza.encode(msg).finish());
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
    this.nc.publish(this.subjects.deliver(bareOf(d.toJid)), cluster.Delivery.encode(stamped).finish());
  }
}
