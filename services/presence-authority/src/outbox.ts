import type { NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { shardOf, type Subjects } from '@vigil/cluster';
import { bareOf } from '@vigil/roster';
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
    private readonly epoch: () => number,
  ) {}

  /** A stanza serialized without 'to', addressed here to `to` (full or bare JID). */
  deliver(to: string, stanzaXml: string, fromBareJid: string, kind: cluster.DeliveryKind = K.DELIVERY_KIND_PRESENCE): void {
    this.#publishDelivery({
      toJid: to, stanzaXml: withTo(stanzaXml, to), shard: 0, epoch: this.epoch(), kind, fromBareJid, blockList: [],
    });
  }

  /** A server push (roster or block list) to the user's interested resources. */
  push(userBareJid: string, stanzaXml: string, kind: cluster.DeliveryKind, blockList: readonly string[] = []): void {
    this.#publishDelivery({
      toJid: userBareJid, stanzaXml: withTo(stanzaXml, userBareJid), shard: 0, epoch: this.epoch(), kind, fromBareJid: '', blockList: [...blockList],
    });
  }

  probe(msg: cluster.Probe): void {
    this.nc.publish(this.subjects.shardProbe(shardOf(msg.toBareJid, this.shardCount)), cluster.Probe.encode(msg).finish());
  }

  inbound(msg: cluster.InboundStanza): void {
    this.nc.publish(this.subjects.shardInbound(shardOf(bareOf(msg.toJid), this.shardCount)), cluster.InboundStanza.encode(msg).finish());
  }

  #publishDelivery(d: cluster.Delivery): void {
    this.nc.publish(this.subjects.deliver(bareOf(d.toJid)), cluster.Delivery.encode(d).finish());
  }
}
