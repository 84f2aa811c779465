import { performance } from 'node:perf_hooks';
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { admin, cluster } from '@vigil/proto';
import { digestEquals, EMPTY_DIGEST, shardOf, subjects, type Subjects } from '@vigil/cluster';
import { LeaseTable } from '@vigil/lease';
import { bareOf } from '@vigil/roster';
import { droppedMessage, inSpan, tracingEnabled, type Logger } from '@vigil/telemetry';
import type { Stores } from '@vigil/store';
import type { KV } from '@nats-io/kv';
import { errorReply, escapeAttr, parseStanza, StanzaError, type Element } from '@vigil/xmpp';
import type { AuthorityConfig } from './config.js';
import type { AuthorityContext } from './context.js';
import { IqCore, iqResponse, typedIq } from './iq.js';
import { KeyedQueue } from './keyed-queue.js';
import { Outbox } from './outbox.js';
import { END_CAUSE_NAME, PresenceCore } from './presence.js';
import { SessionRegistry, type SessionRecord } from './registry.js';
import { SessionFence } from './session-fence.js';
import { Reconciler } from './reconciler.js';
import { RosterEditor } from './roster-editor.js';
import { handleInbound, isSubscriptionType, SubscriptionCore } from './subscriptions.js';
import { UserRecords, type UserEntry } from './user-records.js';
import { localpartOf } from './stanza-text.js';
import { KvSessionJournal } from './journal.js';
import { ShardManager } from './shard-manager.js';
import { AdminHandler } from './admin.js';
import type { LocalOwner } from './grpc/owner-client.js';
import { WatchPublisher } from './presence-events.js';
import { OwnerImport } from './migration/owner-import.js';
import { AuthorityMetrics } from './metrics.js';

const { EndCause } = cluster;
/** Sessions remembered as ended by the owner, of each kind (kicked or replaced; deleted): far more than are in flight at once. */
const FENCED_SESSIONS_MAX = 4096;
type EndCause = cluster.EndCause;

export interface AuthorityDeps {
  readonly nc: NatsConnection;
  readonly stores: Stores;
  readonly config: AuthorityConfig;
  readonly log: Logger;
  /** Monotonic milliseconds (DESIGN: leases never use the wall clock). */
  readonly now?: () => number;
  /** Run the lease check on a timer (default). Tests turn it off and call tick() with a fake clock. */
  readonly autoTick?: boolean;
  /** The shard-lock bucket (vigil_shards). */
  readonly shardLocks: KV;
  /** Instruments (no-ops unless the process started the telemetry SDK first). */
  readonly metrics?: AuthorityMetrics;
}

/**
 * The presence authority's shell: NATS subscriptions in, decisions from the
 * pure libs, deliveries out. It acts only on the shards it holds the KV lock
 * of (ShardManager); taking a shard loads its durable session registry and
 * gives each node found there a fresh lease.
 */
export class Authority {
  readonly #subjects: Subjects;
  readonly #outbox: Outbox;
  readonly #leases: LeaseTable;
  readonly #registry = new SessionRegistry();
  /** Sessions kicked or of deleted accounts: their events still queued are dropped (SessionFence). */
  readonly #fence = new SessionFence(FENCED_SESSIONS_MAX);
  readonly #queue: KeyedQueue;
  /** Users whose task runs at once right now (#runNow). */
  readonly #runningNow = new Set<string>();
  readonly #records: UserRecords;
  readonly #presence: PresenceCore;
  readonly #subscriptions: SubscriptionCore;
  readonly #iqs: IqCore;
  readonly #reconciler: Reconciler;
  /** Scratch marks of the shards a heartbeat reported, cleared after each (see #onHeartbeat). */
  readonly #reportedShards: Uint8Array;
  readonly #admin: AdminHandler;
  readonly #import: OwnerImport;
  readonly #subs: Subscription[] = [];
  readonly #shardSubs = new Map<number, Subscription>();
  /**
   * Restored probes whose last-seen read is outstanding (#onProbe), by the
   * contact's shard, each until it is answered or queued; as many as such
   * probes in flight, one KV get each, as when they waited in their
   * contacts' queues. By shard so that a hand-over waits only for its own.
   */
  readonly #probeReads = new Map<number, Set<Promise<void>>>();
  readonly #journal: KvSessionJournal;
  readonly #shards: ShardManager;
  readonly #now: () => number;
  #tick: NodeJS.Timeout | undefined;
  /**
   * Since when this replica has heard heartbeats without a gap of its own
   * (its start, its last NATS reconnect; monotonic). A stall loses none:
   * they wait in the socket and are read after it.
   */
  #hearingSinceMs: number | undefined;
  #lastTickMs = 0;
  readonly #metrics: AuthorityMetrics;
  /** Sessions of expired node incarnations not yet announced (the mass-expiry backlog). */
  #expiryBacklog = 0;

  constructor(private readonly deps: AuthorityDeps) {
    this.#subjects = subjects(deps.config.subjectPrefix);
    this.#reportedShards = new Uint8Array(deps.config.shardCount);
    this.#metrics = deps.metrics ?? new AuthorityMetrics({ shardCount: deps.config.shardCount, nodeLeaseMs: deps.config.timings.nodeLeaseMs });
    this.#leases = new LeaseTable({ leaseMs: deps.config.timings.nodeLeaseMs });
    this.#queue = new KeyedQueue((user, error) => deps.log.error('presence task failed', { user, err: error }));
    this.#shards = new ShardManager({
      nc: deps.nc,
      kv: deps.shardLocks,
      subjects: this.#subjects,
      config: deps.config,
      log: deps.log,
      metrics: this.#metrics,
      callbacks: {
        acquired: (shard, epoch) => this.#takeShard(shard, epoch),
        releasing: (shard) => this.#giveShard(shard, true),
        lost: (shard) => void this.#giveShard(shard, false),
      },
    });
    this.#journal = new KvSessionJournal(
      deps.stores.sessions,
      (shard) => this.#shards.epochOf(shard),
      (err, record) => {
        this.#metrics.kvError('sessions', 'write');
        deps.log.warn('session registry write failed', { user: record.bareJid, session: record.sessionId, shard: record.shard, err });
      },
    );
    this.#outbox = new Outbox(deps.nc, this.#subjects, deps.config.shardCount, (shard) => this.#shards.epochOf(shard), deps.log);
    // A shard is served once its registry is loaded and its subjects subscribed: then a probe for it needs no NATS trip.
    this.#outbox.handleProbesLocally((p) => {
      if (!this.#shardSubs.has(shardOf(p.toBareJid, deps.config.shardCount))) return false;
      this.#onProbe(p);
      return true;
    });
    const watch = new WatchPublisher(deps.nc, this.#subjects, (shard) => this.#shards.epochOf(shard), () => Date.now(), deps.log);
    const ctx: AuthorityContext = {
      config: deps.config,
      log: deps.log,
      registry: this.#registry,
      records: (this.#records = new UserRecords(deps.stores.rosters, deps.config.rosterCacheSize, (localpart) => shardOf(`${localpart}@${deps.config.domain}`, deps.config.shardCount))),
      lastSeen: deps.stores.lastSeen,
      epochOf: (shard) => this.#shards.epochOf(shard),
      outbox: this.#outbox,
      queue: this.#queue,
      journal: this.#journal,
      events: watch,
      wallNowMs: () => Date.now(),
      metrics: this.#metrics,
    };
    this.#presence = new PresenceCore(ctx);
    this.#subscriptions = new SubscriptionCore(ctx, this.#presence, (local) => deps.stores.accounts.exists(local));
    this.#iqs = new IqCore(ctx, this.#presence, new RosterEditor(ctx, this.#presence, this.#subscriptions));
    this.#admin = new AdminHandler({
      ctx,
      nc: deps.nc,
      subjects: this.#subjects,
      presence: this.#presence,
      iqs: this.#iqs,
      subscriptions: this.#subscriptions,
      accounts: deps.stores.accounts,
      sequenceOf: (bare, epoch) => watch.sequenceOf(bare, epoch),
      epochOf: (shard) => this.#shards.epochOf(shard),
      kickTimeoutMs: deps.config.timings.heartbeatIntervalMs * 2,
      fence: this.#fence,
      liveNodes: () => this.#leases.list().map((l) => l.nodeId),
      // A live node heartbeats within every lease: once one has passed without a gap of ours, each has been heard.
      nodesAllKnownInMs: () => {
        const since = this.#hearingSinceMs;
        const lease = deps.config.timings.nodeLeaseMs;
        return since === undefined ? lease : Math.max(0, lease - (this.#now() - since));
      },
    });
    this.#import = new OwnerImport({ ctx, subjects: this.#subjects, epochOf: (shard) => this.#shards.epochOf(shard) });
    this.#now = deps.now ?? (() => performance.now());
    this.#reconciler = new Reconciler({
      nc: deps.nc,
      subjects: this.#subjects,
      registry: this.#registry,
      log: deps.log,
      timeoutMs: deps.config.timings.heartbeatIntervalMs * 2,
      onMissing: (record) => this.#endSession(record, EndCause.END_CAUSE_CLIENT_LOST, 'reconcile'),
      onUnknown: (state) => this.#adoptSession(state),
      onStale: (state) => this.#refreshSession(state),
    });
  }

  get registry(): SessionRegistry {
    return this.#registry;
  }

  get shards(): ShardManager {
    return this.#shards;
  }

  /** The owner side of the gRPC API for shards held here, for the API in the same process. */
  get localOwner(): LocalOwner {
    return {
      epochOf: (shard) => this.#shards.epochOf(shard),
      answer: (shard, req) => this.#admin.answer(shard, req),
      presenceNow: (shard, bare) => this.#admin.presenceNow(shard, bare),
    };
  }

  /** Listens to node heartbeats, then joins the shard owners; resolves once a first share of shards is held. */
  async start(): Promise<void> {
    this.#subscribe(this.#subjects.allHeartbeats, (m) => this.#onHeartbeat(cluster.Heartbeat.decode(m.data)));
    this.#hearingSinceMs = this.#now();
    await this.#shards.start();
    this.#lastTickMs = this.#now();
    const period = Math.max(20, Math.floor(this.deps.config.timings.heartbeatIntervalMs / 4));
    if (this.deps.autoTick ?? true) this.#tick = setInterval(() => this.tick(), period);
    void this.#watchConnection();
    this.#metrics.observe({
      sessionsByNode: () => {
        // Nodes with a lease and no session show 0 rather than vanish from the gauge.
        const counts = this.#registry.countByNode();
        for (const l of this.#leases.list()) if (!counts.has(l.nodeId)) counts.set(l.nodeId, 0);
        return counts;
      },
      liveLeases: () => this.#leases.list().length,
      maxHeartbeatSilenceMs: () => this.#leases.list().reduce((max, l) => Math.max(max, this.#now() - l.lastHeardMs), 0),
      shardsOwned: () => this.#shards.owned.size,
      pendingUsers: () => this.#queue.size,
      expiryBacklog: () => this.#expiryBacklog,
    });
  }

  /** Resolves when every presence task queued so far has run. */
  idle(): Promise<void> {
    return this.#settle();
  }

  /** Hands every shard over (finishing what is in hand first), then stops. */
  async stop(): Promise<void> {
    clearInterval(this.#tick);
    this.#metrics.stop();
    await this.#shards.stop();
    for (const sub of this.#subs) sub.unsubscribe();
    await this.#settle();
    this.#outbox.stop();
  }

  // --- shard ownership ---------------------------------------------------

  async #takeShard(shard: number, epoch: number): Promise<void> {
    // Cached while another replica owned the shard (it may have changed them since): read them again.
    this.#records.forgetShard(shard);
    const entries = await this.deps.stores.sessions.load(shard);
    // Lost (or lost and taken again) while loading: this load is not the owner's view any more.
    if (this.#shards.epochOf(shard) !== epoch) return;
    const now = this.#now();
    for (const entry of entries) {
      const ref = entry.value.session;
      if (!ref) continue;
      const record = this.#presence.restore(entry.value);
      this.#journal.adopt(record, entry);
      switch (this.#leases.adopt(ref.nodeId, ref.incarnation, now)) {
        case 'ended':
        case 'superseded':
          // Its node is gone or restarted: announce it now, as the old owner would have.
          void this.#endSession(record, EndCause.END_CAUSE_NODE_LOST, 'node gone at takeover');
          break;
        default:
          break;
      }
    }
    const sub = this.deps.nc.subscribe(this.#subjects.shardAll(shard), {
      callback: (err, msg) => {
        if (err) return this.deps.log.error('shard subscription failed', { shard, err });
        try {
          this.#dispatch(msg);
        } catch (e) {
          // A malformed message from the bus must not take the authority down.
          droppedMessage(this.deps.log, msg.subject, e);
        }
      },
    });
    this.#shardSubs.set(shard, sub);
    if (entries.length > 0) this.deps.log.info('shard registry loaded', { shard, epoch, sessions: entries.length });
  }

  async #giveShard(shard: number, graceful: boolean): Promise<void> {
    this.#shardSubs.get(shard)?.unsubscribe();
    this.#shardSubs.delete(shard);
    // A graceful hand-over finishes what is in hand, so no expiry is lost or repeated by the successor.
    if (graceful) {
      // A restored probe of this shard read before the unsubscribe is answered while the registry still holds the
      // shard; reads of other shards (a resumption storm goes on there) are not waited for.
      await this.#settle(shard);
      await this.#journal.flush(shard);
      // Last-seen values wait for a pause in session ends (BackgroundWrites); the successor reads the store.
      await this.#presence.flushLastSeen();
    }
    this.#registry.removeShard(shard); // the journal's revisions go with the records
    this.#records.forgetShard(shard); // the next owner may change them: a later takeover reads them again
  }

  #dispatch(m: Msg): void {
    const kind = m.subject.slice(m.subject.lastIndexOf('.') + 1);
    switch (kind) {
      case 'session':
        return this.#onSessionEvent(cluster.SessionEvent.decode(m.data));
      case 'probe':
        this.#onProbe(cluster.Probe.decode(m.data));
        return ack(m);
      case 'iq':
        return this.#onIq(m);
      case 'inbound':
        this.#onInbound(cluster.InboundStanza.decode(m.data));
        return ack(m);
      case 'admin':
        return this.#admin.handle(m);
      case 'import':
        return this.#import.handle(m);
      default:
        this.deps.log.warn('message on an unknown shard subject dropped', { subject: m.subject });
    }
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
          droppedMessage(this.deps.log, msg.subject, e);
        }
      },
    });
    this.#subs.push(sub);
  }

  // --- liveness -----------------------------------------------------------

  #onHeartbeat(hb: cluster.Heartbeat): void {
    const now = this.#now();
    const previous = this.#leases.get(hb.nodeId);
    if (previous?.incarnation === hb.incarnation) this.#metrics.heartbeatInterval(now - previous.lastHeardMs);
    const outcome = this.#leases.heartbeat(hb.nodeId, hb.incarnation, now);
    switch (outcome.kind) {
      case 'stale':
        // Alive after all (slow, not dead), but its sessions here were announced unavailable: it must fence.
        this.deps.log.warn('heartbeat from an ended incarnation; telling the node to fence', { node: hb.nodeId, incarnation: hb.incarnation });
        this.#retired(hb.nodeId, hb.incarnation);
        return;
      case 'replaced':
        this.deps.log.info('node restarted: new incarnation', { node: hb.nodeId, incarnation: hb.incarnation, previous: outcome.previous.incarnation });
        this.#expireIncarnation(hb.nodeId, outcome.previous.incarnation, 'replaced', outcome.previous.lastHeardMs);
        break;
      case 'new':
        this.deps.log.info('node joined', { node: hb.nodeId, incarnation: hb.incarnation });
        // Sessions of an incarnation this authority never saw a heartbeat from end now.
        for (const old of this.#registry.otherIncarnations(hb.nodeId, hb.incarnation)) this.#expireIncarnation(hb.nodeId, old, 'replaced');
        break;
      case 'renewed':
        break;
    }
    // Every shard either side knows of, compared without building a collection per heartbeat: an idle
    // authority's allocations were mostly this (two heartbeats a second, up to a shard count of entries each),
    // and a low allocation rate is what lets V8 give back a young generation a login storm grew.
    const ours = this.#registry.digestsOf(hb.nodeId, hb.incarnation);
    const reported = this.#reportedShards;
    let mismatched: number[] | undefined;
    try {
      for (const theirs of hb.shards) {
        // Another replica's business (or no shard at all), or a shard listed twice.
        if (this.#shards.epochOf(theirs.shard) === undefined || reported[theirs.shard] === 1) continue;
        reported[theirs.shard] = 1;
        if (!digestEquals(ours?.get(theirs.shard) ?? EMPTY_DIGEST, theirs)) (mismatched ??= []).push(theirs.shard);
      }
      if (ours !== undefined) {
        for (const [shard, digest] of ours) {
          if (reported[shard] === 1 || this.#shards.epochOf(shard) === undefined) continue;
          if (!digestEquals(digest, EMPTY_DIGEST)) (mismatched ??= []).push(shard);
        }
      }
    } finally {
      for (const theirs of hb.shards) if (theirs.shard >= 0 && theirs.shard < reported.length) reported[theirs.shard] = 0;
    }
    this.#reconciler.heartbeat(hb.nodeId, hb.incarnation, mismatched);
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
      this.#expireIncarnation(lease.nodeId, lease.incarnation, 'lease-expired', lease.lastHeardMs);
      // Should the node be alive and only slow to reach us, it learns now rather than at its next heartbeat.
      this.#retired(lease.nodeId, lease.incarnation);
    }
  }

  /** Tells a node that this replica ended its incarnation (DESIGN.md invariant 5: no zombie streams). */
  #retired(nodeId: string, incarnation: string): void {
    const notice = cluster.IncarnationRetired.encode({ nodeId, incarnation, authorityId: this.deps.config.authorityId }).finish();
    this.deps.nc.publish(this.#subjects.nodeRetired(nodeId), notice);
  }

  async #watchConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (status.type === 'disconnect') this.deps.log.warn('NATS connection lost', { server: status.server });
      if (status.type === 'reconnect') {
        this.deps.log.info('NATS reconnected; renewing every node lease', { server: status.server });
        this.#leases.refreshAll(this.#now());
        this.#hearingSinceMs = this.#now();
      }
    }
  }

  /**
   * Ends every session of a node incarnation, in batches so heartbeats keep
   * flowing; one span covers the expiry and its fan-out. `lastHeardMs` (the
   * incarnation's last heartbeat) starts the detection-latency clock.
   */
  #expireIncarnation(nodeId: string, incarnation: string, reason: string, lastHeardMs?: number): void {
    this.#reconciler.forget(nodeId, incarnation);
    const sessions = this.#registry.sessionsOfIncarnation(nodeId, incarnation);
    this.#metrics.nodeExpired(reason);
    if (sessions.length === 0) return;
    const batch = this.deps.config.expiryBatchSize;
    const started = performance.now();
    this.#expiryBacklog += sessions.length;
    const run = async (): Promise<void> => {
      this.deps.log.info('expiring sessions of node incarnation', { node: nodeId, incarnation, reason, sessions: sessions.length });
      const ends: Promise<void>[] = [];
      for (let i = 0; i < sessions.length; i += batch) {
        for (const s of sessions.slice(i, i + batch)) {
          const end = this.#endSession(s, EndCause.END_CAUSE_NODE_LOST, reason, lastHeardMs);
          ends.push(end.finally(() => this.#expiryBacklog--));
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await Promise.all(ends);
      const fanOutMs = performance.now() - started;
      this.#metrics.fanOutTook('node-expiry', fanOutMs);
      this.deps.log.info('node incarnation expired', { node: nodeId, incarnation, reason, sessions: sessions.length, fanOutMs: Math.round(fanOutMs) });
    };
    void inSpan('vigil.lease.expire', { 'vigil.node': nodeId, 'vigil.incarnation': incarnation, 'vigil.reason': reason, 'vigil.sessions': sessions.length }, run);
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
    if (this.#fenced(ref, event.$case)) return;
    // A presence of a known session (or of a new one replacing nobody): at once when nothing of the user is queued.
    // Otherwise the queue's task below looks for a session to replace when its turn comes, as before.
    if (event.$case === 'presence' && !tracingEnabled() && this.#queue.idle(bare) && !this.#replacesSameResource(ref)) {
      const presence = event.presence;
      if (this.#runNow(bare, (user) => this.#presence.broadcastWith(ref, presence, user))) return;
    }
    const arrivedMs = this.#now();
    void this.#queue.run(bare, async () => {
      // Again in its turn: a kick or a deletion ahead of it in the queue may have fenced the session meanwhile.
      if (this.#fenced(ref, event.$case)) return;
      // A session the owner ended itself (its subscription stands, see SessionFence) is no newer than anyone: it replaces nobody.
      const ended = this.#fence.ended(ref.sessionId);
      if (event.$case !== 'ended' && event.$case !== 'resync' && !ended && this.#registry.get(ref.sessionId) === undefined) await this.#replaceSameResource(ref);
      switch (event.$case) {
        case 'presence':
          // A span per presence stanza only when traces are exported: the per-stanza path stays cheap otherwise.
          if (!tracingEnabled()) return this.#presence.broadcast(ref, event.presence);
          return inSpan('vigil.presence.broadcast', { 'vigil.user': bare, 'vigil.available': event.presence.available }, () => this.#presence.broadcast(ref, event.presence));
        case 'directed':
          return this.#presence.directed(ref, event.directed);
        case 'subscription': {
          const sub = event.subscription;
          if (!isSubscriptionType(sub.type)) throw new TypeError(`not a subscription type: ${sub.type}`);
          // Known from now on, but not a session the owner ended: that one stays ended.
          if (!ended) this.#journal.save(this.#presence.recordFor(ref));
          return this.#subscriptions.outbound(bare, sub.toBareJid, sub.type, sub.stanzaXml);
        }
        case 'resync': {
          const record = this.#registry.get(ref.sessionId);
          if (record?.available) await this.#presence.reprobe(record);
          return;
        }
        case 'ended': {
          const record = this.#registry.get(ref.sessionId);
          if (record && (await this.#presence.end(record, event.ended.cause, 'event'))) {
            this.#metrics.detected(END_CAUSE_NAME[event.ended.cause] ?? 'unspecified', this.#now() - arrivedMs);
          }
          return;
        }
      }
    });
  }

  /** Whether the owner ended the session itself and drops this kind of event from it (SessionFence); logged. */
  #fenced(ref: cluster.SessionRef, kind: string): boolean {
    if (kind !== 'presence' && kind !== 'directed' && kind !== 'subscription' && kind !== 'iq') return false;
    if (this.#fence.size === 0 || !this.#fence.drops(ref.sessionId, kind)) return false;
    this.deps.log.info('event of a session ended by the owner dropped', { user: ref.fullJid, session: ref.sessionId, kind });
    return true;
  }

  /**
   * A bind asks for the user's block list (the node refuses the bind
   * without it): refused when the account was deleted here and is still
   * gone. One account read, only for users deleted here (SessionFence).
   */
  async #bindRefused(bare: string): Promise<boolean> {
    if (!this.#fence.wasDeleted(bare)) return false;
    // From the leader: a replica behind the deletion would say the account exists, and forgetting it here is for good.
    if (await this.deps.stores.accounts.existsAtLeader(localpartOf(bare))) {
      this.#fence.recreated(bare);
      return false;
    }
    this.deps.log.info('bind refused: the account was deleted', { user: bare });
    return true;
  }

  /** Whether #replaceSameResource has a session to end for `ref`. */
  #replacesSameResource(ref: cluster.SessionRef): boolean {
    if (this.#registry.get(ref.sessionId) !== undefined) return false;
    return this.#registry.someSessionOf(bareOf(ref.fullJid), (old) => old.fullJid === ref.fullJid && old.sessionId !== ref.sessionId);
  }

  /**
   * Runs `now` with the user's roster entry at once when the user's queue is
   * idle and the entry cached: nothing of that user can run in between, so it
   * is the order the queue would give, without its promises (a login's
   * probes, its presence and its roster come here; each queued task cost
   * several promises and a microtask turn). Otherwise `queued` goes into the
   * user's queue. `now` must not wait for anything. `failed` handles what
   * either path throws (an iq answers with an error); without it the error is
   * logged (the queue logs the queued path's).
   */
  #withUser(bare: string, now: (user: UserEntry) => void, queued: () => Promise<void>, failed?: (e: unknown) => void): void {
    if (this.#runNow(bare, now, failed)) return;
    void this.#queue.run(bare, failed === undefined ? queued : async () => {
      try {
        await queued();
      } catch (e) {
        failed(e);
      }
    });
  }

  /**
   * #withUser without the queued alternative: false (nothing done) when `now` cannot run at once.
   * While a user's task runs at once, their queue is idle but not free: what the task itself causes
   * for the same user (a user in their own roster probes themselves, and a local probe is handled
   * synchronously) is queued behind it, as it would be behind a queued task, not run in its middle.
   */
  #runNow(bare: string, now: (user: UserEntry) => void, failed?: (e: unknown) => void): boolean {
    if (this.#runningNow.has(bare)) return false;
    const user = this.#queue.idle(bare) ? this.#records.cached(localpartOf(bare)) : undefined;
    if (user === undefined) return false;
    this.#runningNow.add(bare);
    try {
      now(user);
    } catch (e) {
      if (failed !== undefined) failed(e);
      else this.deps.log.error('presence task failed', { user: bare, err: e });
    } finally {
      this.#runningNow.delete(bare);
    }
    return true;
  }

  /**
   * Conflict policy across nodes (docs/decisions.md): a new session whose
   * full JID another node already holds replaces it. The older one is
   * announced gone now, before the new one's presence goes out, and its node
   * is told to end that stream with <conflict/> (a node that no longer has it
   * ignores the request).
   */
  async #replaceSameResource(ref: cluster.SessionRef): Promise<void> {
    for (const old of this.#registry.sessionsOf(bareOf(ref.fullJid))) {
      if (old.fullJid !== ref.fullJid || old.sessionId === ref.sessionId) continue;
      this.deps.log.info('session replaced by a newer one with the same resource', { user: old.fullJid, old: old.sessionId, oldNode: old.nodeId, node: ref.nodeId });
      // Fenced: what the old one sent before it learns of this and waits in the queue must not end the new one in turn.
      this.#fence.fence(old.sessionId, 'kicked');
      await this.#presence.end(old, EndCause.END_CAUSE_KICKED, 'replaced by a newer session with the same resource');
      const text = 'replaced by a new session with the same resource';
      const req: admin.NodeKickRequest = { sessionId: old.sessionId, fullJid: old.fullJid, incarnation: old.incarnation, text, condition: 'conflict', everySessionOfUser: false };
      // After its unavailable, in the outbox's order.
      this.#outbox.send(this.#subjects.nodeKick(old.nodeId), admin.NodeKickRequest.encode(req).finish());
    }
  }

  /** Ends a session in its user's queue; `sinceMs` (monotonic) is when the evidence of its death was last fresh. */
  #endSession(record: SessionRecord, cause: EndCause, reason: string, sinceMs?: number): Promise<void> {
    return this.#queue.run(record.bareJid, async () => {
      const announced = await this.#presence.end(record, cause, reason);
      if (announced && sinceMs !== undefined) this.#metrics.detected(END_CAUSE_NAME[cause] ?? 'unspecified', this.#now() - sinceMs);
    });
  }

  /** A broadcast of a known session was lost: announce what the node holds now. */
  async #refreshSession(state: cluster.SessionState): Promise<void> {
    const ref = state.session;
    if (!ref) return;
    await this.#queue.run(bareOf(ref.fullJid), async () => {
      const record = this.#registry.get(ref.sessionId);
      if (!record || record.presenceSeq === state.presenceSeq) return;
      const stanzaXml = state.available ? state.presenceXml : `<presence from='${escapeAttr(ref.fullJid)}' type='unavailable'/>`;
      await this.#presence.broadcast(ref, { stanzaXml, available: state.available, priority: state.priority, seq: state.presenceSeq, restored: false });
    });
  }

  /** A session the node holds but we never heard of (a lost event): take it in and announce it. */
  async #adoptSession(state: cluster.SessionState): Promise<void> {
    const ref = state.session;
    if (!ref) return;
    await this.#queue.run(bareOf(ref.fullJid), async () => {
      // The node listed it before a kick or a deletion ahead of this in the queue ended it.
      if (this.#registry.get(ref.sessionId) || this.#fence.ended(ref.sessionId)) return;
      this.#presence.recordFor(ref);
      if (state.available) await this.#presence.broadcast(ref, { stanzaXml: state.presenceXml, available: true, priority: state.priority, seq: state.presenceSeq, restored: false });
    });
  }

  #onProbe(p: cluster.Probe): void {
    if (!p.restored) {
      this.#withUser(p.toBareJid, (contact) => this.#presence.answerProbeWith(p, contact), () => this.#presence.answerProbe(p));
      return;
    }
    // A restored session's probe reads the contact's last resources from the store first, outside the contact's
    // queue, and takes its turn there only with the value in hand: a slow read holds up none of the contact's
    // other work. Ordering holds: the answer is decided in one step in its turn, from the registry as it is then
    // (a resource available then answers with its presence, never an unavailable), and whatever the contact
    // does after that turn reaches the prober after the answer, as for any probe. What changed between the read
    // and the turn reached the prober already as broadcasts (it is available from its re-announcement on); the
    // ends noted meanwhile are merged on (PresenceCore.resourceEnds), and one missed only repeats a broadcast.
    const shard = shardOf(p.toBareJid, this.deps.config.shardCount);
    // The contact's shard as it is owned now: the answer is sent only while it still is, at this epoch (#stillOwned).
    const epoch = this.#shards.epochOf(shard);
    const answered = this.#presence.endsFor(p).then((ended) => {
      if (!this.#stillOwned(p, shard, epoch, 'read')) return;
      this.#withUser(
        p.toBareJid,
        (contact) => this.#presence.answerProbeWith(p, contact, ended),
        async () => {
          // Queued (the contact's queue busy or its roster entry not cached): the shard may be lost while it waits.
          const contact = await this.#records.entry(localpartOf(p.toBareJid));
          if (this.#stillOwned(p, shard, epoch, 'wait in the queue')) this.#presence.answerProbeWith(p, contact, ended);
        },
      );
    }).catch((e: unknown) => this.deps.log.error('restored probe not answered', { user: p.toBareJid, prober: p.fromFullJid, err: e }));
    // Tracked so idle() and a graceful hand-over of the shard wait for it to be answered (#settle).
    let reads = this.#probeReads.get(shard);
    if (reads === undefined) this.#probeReads.set(shard, (reads = new Set()));
    reads.add(answered);
    void answered.finally(() => {
      reads.delete(answered);
      if (reads.size === 0 && this.#probeReads.get(shard) === reads) this.#probeReads.delete(shard);
    });
  }

  /**
   * Whether a restored probe of `shard`, which arrived while this replica owned it at `epoch`, may be answered now:
   * only while it still owns it at that epoch (a graceful hand-over keeps the epoch until its registry goes). A shard
   * lost (not handed over) since has left the registry, or a later takeover reloaded it: an answer from it could
   * call the contact's available resources (at the new owner) gone, and the outbox would send it stamped with the
   * prober's shard. Its new owner never saw the probe; the client keeps its view. Logged when dropped.
   */
  #stillOwned(p: cluster.Probe, shard: number, epoch: number | undefined, during: string): boolean {
    const now = this.#shards.epochOf(shard);
    if (epoch !== undefined && now === epoch) return true;
    // Debug, not warn: a resumption storm during a shard loss would log a line per probe, and the loss is warned of.
    this.deps.log.debug(`restored probe not answered: its shard was lost during the ${during}`, { user: p.toBareJid, prober: p.fromFullJid, shard, epoch, now });
    return false;
  }

  /**
   * Until no restored probe's read is outstanding (of `shard` only, when given) and every task queued so far, and
   * by them, has run.
   */
  async #settle(shard?: number): Promise<void> {
    const reads = (): Promise<void>[] => {
      if (shard !== undefined) return [...(this.#probeReads.get(shard) ?? [])];
      const all: Promise<void>[] = [];
      for (const set of this.#probeReads.values()) all.push(...set);
      return all;
    };
    for (;;) {
      await Promise.all(reads());
      await this.#queue.drain();
      if (reads().length === 0) return;
    }
  }

  #onInbound(msg: cluster.InboundStanza): void {
    void this.#queue.run(bareOf(msg.toJid), () => handleInbound(msg, this.#subscriptions, this.#presence, this.deps.log));
  }

  /** Answers in the queue of the user the iq is about, so it sees that user's writes in order. */
  #onIq(m: Msg): void {
    const req = cluster.IqRequest.decode(m.data);
    // Through the outbox: pushes decided before the answer leave before it.
    const respond = (r: cluster.IqResponse) => {
      if (m.reply) this.#outbox.send(m.reply, cluster.IqResponse.encode(r).finish());
    };
    const requester = bareOf(req.session?.fullJid ?? '');
    if (req.typed?.$case === 'blockListGet') {
      // An answer without the list: the node refuses the bind with 'wait' at once (IqHandler.loadBlockList).
      const failed = (e: unknown) => {
        this.deps.log.error('block list read failed', { user: requester, err: e });
        respond(iqResponse({}));
      };
      const queued = async () => {
        if (await this.#bindRefused(requester)) respond(iqResponse({ accountGone: true }));
        else respond(await this.#iqs.blockList(requester));
      };
      if (this.#fence.wasDeleted(requester)) void this.#queue.run(requester, () => queued().catch(failed));
      else this.#withUser(requester, (user) => respond(this.#iqs.blockListOf(user)), queued, failed);
      return;
    }
    // The roster a login asks for (typed): its answer is text built from the cached record, with no element tree.
    const rosterGet = req.typed?.$case === 'rosterGet' ? req.typed.rosterGet : undefined;
    if (rosterGet !== undefined && (rosterGet.to === '' || bareOf(rosterGet.to) === requester)) {
      const fullJid = req.session?.fullJid;
      // The client gets an error at once, not the node's request timeout.
      const failed = (e: unknown) => {
        this.deps.log.error('iq failed', { user: requester, err: e });
        respond(iqResponse({ stanzaXml: errorReply(typedIq(req) ?? parseStanza(req.stanzaXml), new StanzaError('internal-server-error', 'wait')).toString() }));
      };
      this.#withUser(
        requester,
        (user) => respond(this.#iqs.ownRosterGet(rosterGet, fullJid, user)),
        async () => respond(this.#iqs.ownRosterGet(rosterGet, fullJid, await this.#records.entry(localpartOf(requester)))),
        failed,
      );
      return;
    }
    // Parsed once, here: the typed roster get needs no parsing at all.
    let iq: Element;
    try {
      iq = typedIq(req) ?? parseStanza(req.stanzaXml);
    } catch (e) {
      this.deps.log.warn('unparsable iq dropped', { err: e });
      return;
    }
    const about = bareOf(iq.attr('to') ?? req.session?.fullJid ?? '');
    void this.#queue.run(about, async () => {
      if (req.session !== undefined && this.#fenced(req.session, 'iq')) {
        // Its stream has ended; the node answers nobody, but its request is not left to time out.
        respond(iqResponse({ stanzaXml: errorReply(iq, new StanzaError('not-authorized', 'auth', 'the session has ended')).toString() }));
        return;
      }
      try {
        respond(await this.#iqs.handle(req, iq));
      } catch (e) {
        this.deps.log.error('iq failed', { user: about, err: e });
        respond(iqResponse({ stanzaXml: errorReply(iq, new StanzaError('internal-server-error', 'wait')).toString() }));
      }
    });
  }
}

/** Probes and inbound stanzas come as requests (Outbox#handOver): say they are queued. */
function ack(m: Msg): void {
  if (m.reply) m.respond(new Uint8Array(0));
}
