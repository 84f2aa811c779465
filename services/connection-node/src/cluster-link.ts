import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { shardOf, subjects, type Subjects } from '@vigil/cluster';
import type { Logger } from '@vigil/telemetry';
import type { NodeConfig } from './config.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';

export interface RosterAnswer {
  readonly items: cluster.RosterItem[];
  readonly version: number;
  readonly errorCondition: string;
}

/**
 * Everything this node says and hears on NATS: heartbeats with per-shard
 * digests, session events to shard owners, deliveries to local sessions,
 * answers to session-list requests, roster requests.
 */
export class ClusterLink {
  readonly incarnation = randomBytes(8).toString('hex');
  readonly sessions: LocalSessions;
  readonly #subjects: Subjects;
  readonly #deliverySubs = new Map<string, Subscription>();
  readonly #subs: Subscription[] = [];
  #heartbeat: NodeJS.Timeout | undefined;
  #seq = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly config: NodeConfig,
    private readonly log: Logger,
  ) {
    this.#subjects = subjects(config.subjectPrefix);
    this.sessions = new LocalSessions({
      firstOfUser: (bare) => this.#subscribeDeliveries(bare),
      lastOfUser: (bare) => {
        this.#deliverySubs.get(bare)?.unsubscribe();
        this.#deliverySubs.delete(bare);
      },
    });
  }

  shardOf(bareJid: string): number {
    return shardOf(bareJid, this.config.shardCount);
  }

  /** Heartbeats start before any client is accepted, so no event precedes our lease. */
  start(): void {
    this.#subs.push(
      this.nc.subscribe(this.#subjects.nodeSessions(this.config.nodeId), {
        callback: (err, msg) => {
          if (err) return this.log.error('session list subscription failed', { err });
          const req = cluster.SessionListRequest.decode(msg.data);
          const sessions = this.sessions.announcedInShard(req.shard).map((s) => sessionState(s, this.#ref(s)));
          msg.respond(cluster.SessionListResponse.encode({ incarnation: this.incarnation, sessions }).finish());
        },
      }),
    );
    this.#sendHeartbeat();
    const jitter = () => this.config.timings.heartbeatIntervalMs * (0.9 + Math.random() * 0.1);
    const loop = () => {
      this.#heartbeat = setTimeout(() => {
        this.#sendHeartbeat();
        loop();
      }, jitter());
    };
    loop();
  }

  stop(): void {
    clearTimeout(this.#heartbeat);
    for (const s of [...this.#subs, ...this.#deliverySubs.values()]) s.unsubscribe();
    this.#deliverySubs.clear();
  }

  /** Publishes a session event to the owner of the user's shard, announcing the session first. */
  publishEvent(s: LocalSession, event: cluster.SessionEvent['event']): void {
    if (event?.$case !== 'ended') this.sessions.announce(s);
    const msg: cluster.SessionEvent = { session: this.#ref(s), event };
    this.nc.publish(this.#subjects.shardSession(s.shard), cluster.SessionEvent.encode(msg).finish());
  }

  /** A stanza from a local client to another user's sessions, wherever they are. */
  publishDelivery(toJid: string, bareJid: string, stanzaXml: string): void {
    const d: cluster.Delivery = { toJid, stanzaXml, shard: 0, epoch: 0 };
    this.nc.publish(this.#subjects.deliver(bareJid), cluster.Delivery.encode(d).finish());
  }

  async rosterGet(bareJid: string): Promise<RosterAnswer> {
    const req = cluster.RosterGetRequest.encode({ userBareJid: bareJid }).finish();
    const reply = await this.nc.request(this.#subjects.shardRoster(this.shardOf(bareJid)), req, {
      timeout: this.config.rosterRequestTimeoutMs,
    });
    return cluster.RosterGetResponse.decode(reply.data);
  }

  #ref(s: LocalSession): cluster.SessionRef {
    return { sessionId: s.id, fullJid: s.fullJid, nodeId: this.config.nodeId, incarnation: this.incarnation };
  }

  #sendHeartbeat(): void {
    const hb: cluster.Heartbeat = {
      nodeId: this.config.nodeId,
      incarnation: this.incarnation,
      seq: ++this.#seq,
      shards: this.sessions.digests().map(([shard, d]) => ({ shard, count: d.count, hash: d.hash })),
      sentAtUnixMs: Date.now(),
    };
    try {
      this.nc.publish(this.#subjects.heartbeat(this.config.nodeId), cluster.Heartbeat.encode(hb).finish());
      this.lastPublishMs = performance.now();
    } catch (e) {
      this.log.warn('heartbeat not published', { err: e });
    }
  }

  /** Monotonic time of the last heartbeat handed to the NATS client (for self-fencing). */
  lastPublishMs = performance.now();

  #subscribeDeliveries(bareJid: string): void {
    const sub = this.nc.subscribe(this.#subjects.deliver(bareJid), {
      callback: (err, msg) => {
        if (err) return this.log.error('delivery subscription failed', { user: bareJid, err });
        let d: cluster.Delivery;
        try {
          d = cluster.Delivery.decode(msg.data);
        } catch (e) {
          return this.log.warn('dropped malformed delivery', { err: e });
        }
        this.#deliverLocally(d);
      },
    });
    this.#deliverySubs.set(bareJid, sub);
  }

  /**
   * The subject is a hash, so check the exact JID before writing to a socket.
   * Full JID: that session. Bare JID: presence to every available resource;
   * messages to available resources with non-negative priority (RFC 6121 §8.5.2.1.1).
   */
  #deliverLocally(d: cluster.Delivery): void {
    const slash = d.toJid.indexOf('/');
    if (slash !== -1) {
      this.sessions.get(d.toJid)?.send(d.stanzaXml);
      return;
    }
    const isPresence = d.stanzaXml.startsWith('<presence');
    for (const s of this.sessions.ofUser(d.toJid)) {
      if (s.available && (isPresence || s.priority >= 0)) s.send(d.stanzaXml);
    }
  }
}

function sessionState(s: LocalSession, ref: cluster.SessionRef): cluster.SessionState {
  return { session: ref, available: s.available, presenceXml: s.presenceXml, priority: s.priority };
}
