import { performance } from 'node:perf_hooks';
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { digestEquals, shardOf, shardFromSubject, subjects, type Subjects } from '@vigil/cluster';
import { LeaseTable } from '@vigil/lease';
import { broadcastRecipients, bareOf, mayAnswerProbe, probeTargets } from '@vigil/roster';
import type { Logger } from '@vigil/telemetry';
import { itemToWire, type Stores } from '@vigil/store';
import type { AuthorityConfig } from './config.js';
import { KeyedQueue } from './keyed-queue.js';
import { SessionRegistry, type SessionRecord } from './registry.js';
import { RosterCache } from './roster-cache.js';
import { domainOf, localpartOf, unavailableFrom, withTo } from './stanza-text.js';
import { Reconciler } from './reconciler.js';

const { EndCause } = cluster;
type EndCause = cluster.EndCause;

export const END_CAUSE_NAME: Record<number, string> = {
  [EndCause.END_CAUSE_GRACEFUL]: 'graceful',
  [EndCause.END_CAUSE_CLIENT_LOST]: 'client-lost',
  [EndCause.END_CAUSE_NODE_LOST]: 'node-lost',
  [EndCause.END_CAUSE_KICKED]: 'kicked',
};

const NO_BLOCKS: ReadonlySet<string> = new Set();

export interface AuthorityDeps {
  readonly nc: NatsConnection;
  readonly stores: Stores;
  readonly config: AuthorityConfig;
  readonly log: Logger;
  /** Monotonic milliseconds (DESIGN: leases never use the wall clock). */
  readonly now?: () => number;
  /** Run the lease check on a timer (default). Tests turn it off and call tick() with a fake clock. */
  readonly autoTick?: boolean;
}

/**
 * The presence authority's shell: NATS subscriptions in, decisions from the
 * pure libs, deliveries out. In this build one replica owns every shard
 * (epoch 1); sharded ownership with KV locks comes with the failover work.
 */
export class Authority {
  readonly #subjects: Subjects;
  readonly #leases: LeaseTable;
  readonly #registry = new SessionRegistry();
  readonly #rosters: RosterCache;
  readonly #queue: KeyedQueue;
  readonly #reconciler: Reconciler;
  readonly #subs: Subscription[] = [];
  readonly #now: () => number;
  readonly #epoch = 1;
  #tick: NodeJS.Timeout | undefined;
  #lastTickMs = 0;
  #stopping = false;

  constructor(private readonly deps: AuthorityDeps) {
    this.#subjects = subjects(deps.config.subjectPrefix);
    this.#leases = new LeaseTable({ leaseMs: deps.config.timings.nodeLeaseMs });
    this.#rosters = new RosterCache(deps.stores.rosters, deps.config.rosterCacheSize);
    this.#queue = new KeyedQueue((user, error) => deps.log.error('presence task failed', { user, err: error }));
    this.#now = deps.now ?? (() => performance.now());
    this.#reconciler = new Reconciler({
      nc: deps.nc,
      subjects: this.#subjects,
      registry: this.#registry,
      log: deps.log,
      timeoutMs: deps.config.timings.heartbeatIntervalMs * 2,
      onMissing: (record) => this.#endSession(record, EndCause.END_CAUSE_CLIENT_LOST, 'reconcile'),
      onUnknown: (state) => this.#adoptSession(state),
    });
  }

  get registry(): SessionRegistry {
    return this.#registry;
  }

  start(): void {
    const s = this.#subjects;
    this.#subscribe(s.allHeartbeats, (m) => this.#onHeartbeat(cluster.Heartbeat.decode(m.data)));
    this.#subscribe(s.allShards('session'), (m) => this.#onSessionEvent(cluster.SessionEvent.decode(m.data)));
    this.#subscribe(s.allShards('probe'), (m) => this.#onProbe(cluster.Probe.decode(m.data)));
    this.#subscribe(s.allShards('roster'), (m) => this.#onRosterGet(m));
    this.#lastTickMs = this.#now();
    const period = Math.max(20, Math.floor(this.deps.config.timings.heartbeatIntervalMs / 4));
    if (this.deps.autoTick ?? true) this.#tick = setInterval(() => this.tick(), period);
    void this.#watchConnection();
  }

  /** Resolves when every presence task queued so far has run. */
  idle(): Promise<void> {
    return this.#queue.drain();
  }

  /** Stops taking events and waits for the ones in hand to finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#tick);
    for (const sub of this.#subs) sub.unsubscribe();
    await this.#queue.drain();
  }

  #subscribe(subject: string, handle: (m: Msg) => void): void {
    const sub = this.deps.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.deps.log.error('subscription failed', { subject, err });
          return;
        }
        try {
          handle(msg);
        } catch (e) {
          // A malformed message from the bus must not take the authority down.
          this.deps.log.warn('dropped malformed message', { subject: msg.subject, err: e });
        }
      },
    });
    this.#subs.push(sub);
  }

  // --- liveness -----------------------------------------------------------

  #onHeartbeat(hb: cluster.Heartbeat): void {
    const now = this.#now();
    const outcome = this.#leases.heartbeat(hb.nodeId, hb.incarnation, now);
    switch (outcome.kind) {
      case 'stale':
        this.deps.log.warn('heartbeat from an ended incarnation ignored', { node: hb.nodeId, incarnation: hb.incarnation });
        return;
      case 'replaced':
        this.deps.log.info('node restarted: new incarnation', { node: hb.nodeId, incarnation: hb.incarnation, previous: outcome.previous.incarnation });
        this.#expireIncarnation(hb.nodeId, outcome.previous.incarnation, 'replaced');
        break;
      case 'new':
        this.deps.log.info('node joined', { node: hb.nodeId, incarnation: hb.incarnation });
        // Sessions of an incarnation this authority never saw a heartbeat from end now.
        for (const old of this.#registry.otherIncarnations(hb.nodeId, hb.incarnation)) this.#expireIncarnation(hb.nodeId, old, 'replaced');
        break;
      case 'renewed':
        break;
    }
    const reported = new Map(hb.shards.map((d) => [d.shard, d] as const));
    const shards = new Set([...reported.keys(), ...this.#registry.shardsOf(hb.nodeId, hb.incarnation)]);
    for (const shard of shards) {
      const theirs = reported.get(shard) ?? { count: 0, hash: 0 };
      const ours = this.#registry.digest(hb.nodeId, hb.incarnation, shard);
      this.#reconciler.observe(hb.nodeId, hb.incarnation, shard, digestEquals(ours, theirs));
    }
  }

  /** One lease check: notices its own stalls, then expires nodes whose lease ran out. */
  tick(): void {
    const now = this.#now();
    const late = now - this.#lastTickMs;
    this.#lastTickMs = now;
    if (late > this.deps.config.timings.heartbeatIntervalMs) {
      // Our own stall: the silence we saw is not evidence against the nodes.
      this.deps.log.warn('event loop stalled; renewing every node lease', { stalledMs: Math.round(late) });
      this.#leases.refreshAll(now);
      return;
    }
    for (const lease of this.#leases.expire(now)) {
      this.deps.log.warn('node lease expired', { node: lease.nodeId, incarnation: lease.incarnation, silentMs: Math.round(now - lease.lastHeardMs) });
      this.#expireIncarnation(lease.nodeId, lease.incarnation, 'lease-expired');
    }
  }

  async #watchConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (status.type === 'disconnect') this.deps.log.warn('NATS connection lost', { server: status.server });
      if (status.type === 'reconnect') {
        this.deps.log.info('NATS reconnected; renewing every node lease', { server: status.server });
        this.#leases.refreshAll(this.#now());
      }
    }
  }

  /** Ends every session of a node incarnation, in batches so heartbeats keep flowing. */
  #expireIncarnation(nodeId: string, incarnation: string, reason: string): void {
    const sessions = this.#registry.sessionsOfIncarnation(nodeId, incarnation);
    if (sessions.length === 0) return;
    this.deps.log.info('expiring sessions of node incarnation', { node: nodeId, incarnation, reason, sessions: sessions.length });
    const batch = this.deps.config.expiryBatchSize;
    const run = async (): Promise<void> => {
      for (let i = 0; i < sessions.length; i += batch) {
        for (const s of sessions.slice(i, i + batch)) void this.#endSession(s, EndCause.END_CAUSE_NODE_LOST, reason);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    void run();
  }

  // --- session events -----------------------------------------------------

  #onSessionEvent(ev: cluster.SessionEvent): void {
    const ref = ev.session;
    if (!ref || !ev.event) throw new TypeError('session event without session or event');
    if (!this.#leases.isLive(ref.nodeId, ref.incarnation)) {
      // Events can only come from a node that heartbeats; one from an ended
      // incarnation is a zombie's and must not resurrect a session.
      const lease = this.#leases.get(ref.nodeId);
      if (lease !== undefined || ev.event.$case !== 'ended') {
        this.deps.log.warn('session event from a node without a live lease', { node: ref.nodeId, incarnation: ref.incarnation, kind: ev.event.$case });
      }
      if (lease !== undefined) return;
      this.#leases.heartbeat(ref.nodeId, ref.incarnation, this.#now());
    }
    const bare = bareOf(ref.fullJid);
    const event = ev.event;
    void this.#queue.run(bare, async () => {
      switch (event.$case) {
        case 'presence':
          return this.#onBroadcast(ref, event.presence);
        case 'directed':
          return this.#onDirected(ref, event.directed);
        case 'ended': {
          const record = this.#registry.get(ref.sessionId);
          if (record) await this.#endSessionNow(record, event.ended.cause, 'event');
          return;
        }
      }
    });
  }

  #recordFor(ref: cluster.SessionRef): SessionRecord {
    const existing = this.#registry.get(ref.sessionId);
    if (existing) return existing;
    const bareJid = bareOf(ref.fullJid);
    const record: SessionRecord = {
      sessionId: ref.sessionId,
      fullJid: ref.fullJid,
      bareJid,
      shard: shardOf(bareJid, this.deps.config.shardCount),
      nodeId: ref.nodeId,
      incarnation: ref.incarnation,
      available: false,
      presenceXml: '',
      priority: 0,
      directedTo: new Set(),
      presenceErrorsFrom: new Set(),
    };
    this.#registry.add(record);
    return record;
  }

  async #onBroadcast(ref: cluster.SessionRef, p: cluster.BroadcastPresence): Promise<void> {
    const s = this.#recordFor(ref);
    const roster = await this.#rosters.get(localpartOf(s.bareJid));
    const others = this.#availableOthers(s);
    if (p.available) {
      const initial = !s.available;
      s.available = true;
      s.presenceXml = p.stanzaXml;
      s.priority = p.priority;
      const recipients = broadcastRecipients({ roster, session: s, blocked: NO_BLOCKS, otherResources: others }, 'available');
      for (const r of recipients) this.#deliver(r.jid, p.stanzaXml);
      // RFC 6121 §4.2.2: the resource that sent initial presence gets it too.
      this.#deliver(s.fullJid, p.stanzaXml);
      if (initial) {
        for (const contact of probeTargets(roster, NO_BLOCKS)) this.#probe(s, contact);
        // §4.2.2: the new resource learns the presence of the user's other resources.
        for (const o of this.#registry.sessionsOf(s.bareJid)) {
          if (o !== s && o.available) this.#deliver(s.fullJid, o.presenceXml);
        }
      }
      return;
    }
    const recipients = broadcastRecipients({ roster, session: s, blocked: NO_BLOCKS, otherResources: others }, 'unavailable');
    for (const r of recipients) this.#deliver(r.jid, p.stanzaXml);
    this.#deliver(s.fullJid, p.stanzaXml);
    s.available = false;
    s.directedTo.clear();
  }

  async #onDirected(ref: cluster.SessionRef, d: cluster.DirectedPresence): Promise<void> {
    const s = this.#recordFor(ref);
    // RFC 6121 §4.6.3: remember who got directed presence, so the session's end reaches them.
    if (d.available) s.directedTo.add(d.toJid);
    else s.directedTo.delete(d.toJid);
    if (domainOf(d.toJid) === this.deps.config.domain) this.#deliver(d.toJid, d.stanzaXml);
  }

  #endSession(record: SessionRecord, cause: EndCause, reason: string): Promise<void> {
    return this.#queue.run(record.bareJid, () => this.#endSessionNow(record, cause, reason));
  }

  /** RFC 6121 §4.5.2: unavailable to every recipient of the session's presence, whatever the cause. */
  async #endSessionNow(record: SessionRecord, cause: EndCause, reason: string): Promise<void> {
    if (!this.#registry.remove(record)) return;
    let delivered = 0;
    if (record.available || record.directedTo.size > 0) {
      const roster = await this.#rosters.get(localpartOf(record.bareJid));
      const stanza = unavailableFrom(record.fullJid);
      const recipients = broadcastRecipients(
        { roster, session: record, blocked: NO_BLOCKS, otherResources: this.#availableOthers(record) },
        'unavailable',
      );
      for (const r of recipients) this.#deliver(r.jid, stanza);
      delivered = recipients.length;
    }
    this.deps.log.info('session ended', {
      user: record.bareJid,
      session: record.sessionId,
      node: record.nodeId,
      cause: END_CAUSE_NAME[cause] ?? 'unspecified',
      reason,
      recipients: delivered,
    });
  }

  /** A session the node holds but we never heard of (a lost event): take it in and announce it. */
  async #adoptSession(state: cluster.SessionState): Promise<void> {
    const ref = state.session;
    if (!ref) return;
    await this.#queue.run(bareOf(ref.fullJid), async () => {
      if (this.#registry.get(ref.sessionId)) return;
      this.#recordFor(ref);
      if (state.available) await this.#onBroadcast(ref, { stanzaXml: state.presenceXml, available: true, priority: state.priority });
    });
  }

  #availableOthers(s: SessionRecord): string[] {
    return this.#registry.sessionsOf(s.bareJid).filter((o) => o !== s && o.available).map((o) => o.fullJid);
  }

  // --- probes and rosters --------------------------------------------------

  #probe(from: SessionRecord, contact: string): void {
    if (domainOf(contact) !== this.deps.config.domain) return; // no server-to-server in this build
    const probe: cluster.Probe = { fromFullJid: from.fullJid, toBareJid: contact, fromShard: from.shard, fromEpoch: this.#epoch };
    this.deps.nc.publish(this.#subjects.shardProbe(shardOf(contact, this.deps.config.shardCount)), cluster.Probe.encode(probe).finish());
  }

  /** RFC 6121 §4.3.2: answer with each available resource's presence, or reveal nothing. */
  #onProbe(p: cluster.Probe): void {
    void this.#queue.run(p.toBareJid, async () => {
      const roster = await this.#rosters.get(localpartOf(p.toBareJid));
      if (!mayAnswerProbe(roster, bareOf(p.fromFullJid), NO_BLOCKS)) return;
      for (const s of this.#registry.sessionsOf(p.toBareJid)) {
        if (s.available) this.#deliver(p.fromFullJid, s.presenceXml);
      }
    });
  }

  #onRosterGet(m: Msg): void {
    const req = cluster.RosterGetRequest.decode(m.data);
    const shard = shardFromSubject(m.subject, this.deps.config.subjectPrefix);
    const respond = (r: cluster.RosterGetResponse) => m.respond(cluster.RosterGetResponse.encode(r).finish());
    if (shard !== shardOf(req.userBareJid, this.deps.config.shardCount)) {
      respond({ items: [], version: 0, errorCondition: 'bad-request' });
      return;
    }
    this.#rosters.get(localpartOf(req.userBareJid)).then(
      (roster) => respond({ items: roster.items.map(itemToWire), version: roster.version, errorCondition: '' }),
      (e: unknown) => {
        this.deps.log.error('roster read failed', { user: req.userBareJid, err: e });
        respond({ items: [], version: 0, errorCondition: 'internal-server-error' });
      },
    );
  }

  #deliver(to: string, stanzaXml: string): void {
    if (this.#stopping && this.deps.nc.isClosed()) return;
    const delivery: cluster.Delivery = { toJid: to, stanzaXml: withTo(stanzaXml, to), shard: 0, epoch: this.#epoch };
    this.deps.nc.publish(this.#subjects.deliver(bareOf(to)), cluster.Delivery.encode(delivery).finish());
  }
}
