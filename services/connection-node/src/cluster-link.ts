import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { NoRespondersError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { admin, cluster } from '@vigil/proto';
import { shardOf, subjects, type Subjects } from '@vigil/cluster';
import { droppedMessage, type Logger } from '@vigil/telemetry';
import { writeOncePerTurn, type NatsWrites } from '@vigil/store';
import { errorReply, escapeAttr, parseStanza, StanzaError, withTo } from '@vigil/xmpp';
import type { NodeConfig } from './config.js';
import { LocalSessions, type LocalSession } from './local-sessions.js';
import { RequestMux } from './request-mux.js';
import { InboundQueue } from './inbound-queue.js';
import { ClientWrites } from './client-writes.js';
import { scanFanOutBatch, type FanOutView } from './fan-out-scan.js';
import { SelfFence } from './self-fence.js';

/** How long a verdict waits for more nodes' answers after the last one (all nodes answer at once). */
const VERDICT_STALL_MS = 150;
const DELIVERED = Uint8Array.of(1);
const NOT_DELIVERED = Uint8Array.of(0);

/** Writes `to='full JID'` in place of the `to` a bare-JID delivery carries at its start. */
export function readdress(stanzaXml: string, fullJid: string): string {
  const m = /^<([a-z]+) to='[^']*'/.exec(stanzaXml);
  if (!m || m[1] === undefined) return stanzaXml;
  return `<${m[1]} to='${escapeAttr(fullJid)}'${stanzaXml.slice(m[0].length)}`;
}

/**
 * Everything this node says and hears on NATS: heartbeats with per-shard
 * digests, session events to shard owners, deliveries to local sessions,
 * answers to session-list requests, roster requests.
 */
/** How long the node spends on queued deliveries per event-loop turn before it reads its sockets again. */
const INBOUND_SLICE_MS = 50;
/**
 * The longest a client's stanzas wait, during a burst of deliveries, to
 * leave with the ones of the next slices in one socket write (ClientWrites).
 */
const CLIENT_WRITE_HOLD_MS = 100;

export class ClusterLink {
  /** Random per start, and renewed when the node fences itself. */
  #incarnation = randomBytes(8).toString('hex');
  /** The incarnation each session was announced under (a fenced node's old sessions keep theirs). */
  readonly #announcedAs = new WeakMap<LocalSession, string>();
  #fenceTimer: NodeJS.Timeout | undefined;
  /** Heartbeat confirmations and event-loop stalls, judged on a timer (see self-fence.ts). */
  #selfFence: SelfFence | undefined;
  #onFence: (reason: string) => void = () => undefined;
  /**
   * XEP-0077 §3.2 removals a session asked for and not yet done, by session
   * id: the iq result it gets when the deletion ends it (#endDeleted).
   */
  readonly #removals = new Map<string, string>();
  readonly sessions: LocalSessions;
  readonly #subjects: Subjects;
  readonly #deliverySubs = new Map<string, Subscription>();
  readonly #epochs = new Map<number, number>();
  readonly #subs: Subscription[] = [];
  /** Deliveries, fan-outs and kicks for the clients, worked off a slice per turn (see InboundQueue). */
  readonly #inbound: InboundQueue;
  /** When the clients' corked sockets write: at the end of each turn, or held across the slices of a burst. */
  readonly clientWrites: ClientWrites;
  #heartbeat: NodeJS.Timeout | undefined;
  #seq = 0;
  readonly #requests: RequestMux;
  readonly #writes: NatsWrites;

  constructor(
    private readonly nc: NatsConnection,
    private readonly config: NodeConfig,
    private readonly log: Logger,
  ) {
    this.#subjects = subjects(config.subjectPrefix);
    this.clientWrites = new ClientWrites(CLIENT_WRITE_HOLD_MS, () => performance.now());
    this.#inbound = new InboundQueue(INBOUND_SLICE_MS, (e) => this.log.error('delivery to clients failed', { err: e }), this.clientWrites);
    this.#writes = writeOncePerTurn(nc);
    // The outbox joins the connection's one write per turn (see writeOncePerTurn).
    this.#writes.beforeWrite(this.#flush);
    this.#requests = new RequestMux(nc);
    this.sessions = new LocalSessions({
      firstOfUser: (bare) => this.#subscribeDeliveries(bare),
      lastOfUser: (bare) => {
        this.#deliverySubs.get(bare)?.unsubscribe();
        this.#deliverySubs.delete(bare);
      },
    });
  }

  get incarnation(): string {
    return this.#incarnation;
  }

  /**
   * Called when the node fences itself: every client stream must end now,
   * before the cluster may declare its sessions dead (DESIGN.md "Self-fencing").
   */
  onFence(handler: (reason: string) => void): void {
    this.#onFence = handler;
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
          let req: cluster.SessionListRequest;
          try {
            req = cluster.SessionListRequest.decode(msg.data);
          } catch (e) {
            return droppedMessage(this.log, msg.subject, e);
          }
          const sessions = this.sessions
            .announcedInShard(req.shard)
            .filter((s) => this.#announcedAs.get(s) === req.incarnation)
            .map((s) => sessionState(s, this.#ref(s)));
          msg.respond(cluster.SessionListResponse.encode({ incarnation: this.incarnation, sessions }).finish());
        },
      }),
      this.nc.subscribe(this.#subjects.fanOut, {
        callback: (err, msg) => {
          if (err) return this.log.error('fan-out subscription failed', { err });
          let handled = 0;
          let inVisit = false;
          try {
            scanFanOutBatch(msg.data, (f) => {
              inVisit = true;
              this.#onFanOut(f);
              inVisit = false;
              handled++;
            });
          } catch (e) {
            // A batch that does not decode is dropped whole (checked before any fan-out is visited); a failure in
            // handling one fan-out is this node's fault, and the fan-outs before it are already queued.
            if (!inVisit) return droppedMessage(this.log, msg.subject, e);
            this.log.error('fan-out batch handling failed part-way; the rest of the batch is dropped', { subject: msg.subject, handled, err: e });
          }
        },
      }),
      this.nc.subscribe(this.#subjects.nodeKick(this.config.nodeId), {
        callback: (err, msg) => {
          if (err) return this.log.error('kick subscription failed', { err });
          let req: admin.NodeKickRequest;
          try {
            req = admin.NodeKickRequest.decode(msg.data);
          } catch (e) {
            return droppedMessage(this.log, msg.subject, e);
          }
          // After the deliveries that came before it (the unavailable the owner sent ahead of it).
          this.#inbound.push(() => {
            const ended = req.everySessionOfUser ? this.#kickUser(req) : this.#kick(req) ? [req.sessionId] : [];
            const answer: admin.NodeKickResponse = { found: ended.length > 0, endedSessionIds: req.everySessionOfUser ? ended : [] };
            if (msg.reply) msg.respond(admin.NodeKickResponse.encode(answer).finish());
          });
        },
      }),
    );
    this.#subs.push(
      this.nc.subscribe(this.#subjects.nodeRetired(this.config.nodeId), {
        callback: (err, msg) => {
          if (err) return this.log.error('retirement subscription failed', { err });
          let notice: cluster.IncarnationRetired;
          try {
            notice = cluster.IncarnationRetired.decode(msg.data);
          } catch (e) {
            return droppedMessage(this.log, msg.subject, e);
          }
          // A notice about an incarnation already left behind (we fenced or restarted since) changes nothing.
          if (notice.incarnation === this.#incarnation) this.#fence(`declared dead by ${notice.authorityId}`);
        },
      }),
    );
    const { selfFenceMs, nodeLeaseMs } = this.config.timings;
    const fencePeriod = Math.max(20, Math.floor(selfFenceMs / 10));
    this.#selfFence = new SelfFence({ selfFenceMs, nodeLeaseMs, checkPeriodMs: fencePeriod }, performance.now());
    this.#sendHeartbeat();
    this.#fenceTimer = setInterval(() => this.#checkFence(), fencePeriod);
    void this.#watchStatus();
    const jitter = () => this.config.timings.heartbeatIntervalMs * (0.9 + Math.random() * 0.1);
    const loop = () => {
      this.#heartbeat = setTimeout(() => {
        this.#sendHeartbeat();
        loop();
      }, jitter());
    };
    loop();
  }

  /**
   * An administrator's kick (gRPC KickSession), asked by the owner of the
   * user's shard. RFC 6120 §4.9.3.14 <policy-violation/> fits an operator's
   * decision better than <conflict/> (which tells clients not to reconnect
   * with that resource) or <reset/> (which invites an immediate reconnect);
   * the stream ends with cause KICKED. False when the session is not here.
   */
  #kick(req: admin.NodeKickRequest): boolean {
    const s = this.sessions.get(req.fullJid);
    if (s === undefined || s.id !== req.sessionId) return false;
    if (req.condition === 'conflict') {
      this.log.info('session replaced by one with the same resource on another node', { user: s.fullJid, session: s.id });
      s.kick('conflict', req.text);
      return true;
    }
    if (req.condition === 'deleted') {
      this.#endDeleted(s, req.text);
      return true;
    }
    this.log.info('session kicked by an administrator', { user: s.fullJid, session: s.id });
    s.kick('policy-violation', req.text);
    return true;
  }

  /**
   * A session ended by its account's deletion, with <not-authorized/> (the
   * stream's user no longer exists; a bind after the deletion gets the
   * same). When the session itself asked for the removal (XEP-0077 §3.2),
   * its iq result goes first.
   */
  #endDeleted(s: LocalSession, text: string): void {
    const result = this.#removals.get(s.id);
    this.log.info('session ended: its account was deleted', { user: s.fullJid, session: s.id, ownRequest: result !== undefined });
    if (result !== undefined) {
      this.#removals.delete(s.id);
      s.send(result);
    }
    s.kick('not-authorized', text);
  }

  /**
   * XEP-0077 §3.2: the session's user removes their own account. The shard
   * owner deletes it as DeleteAccount would, and ends every session of the
   * user on the way, this one too: `resultXml` is what this one is sent
   * before its stream ends. The owner's answer.
   */
  async removeAccount(s: LocalSession, resultXml: string): Promise<admin.AdminResponse> {
    this.#removals.set(s.id, resultXml);
    try {
      const req = admin.AdminRequest.encode({ op: { $case: 'removeAccount', removeAccount: { bareJid: s.bareJid } } }).finish();
      // A deletion ends sessions on every node and may first wait up to a lease: longer than a roster read.
      const reply = await this.requestRaw(this.#subjects.shardAdmin(this.shardOf(s.bareJid)), req, this.config.rosterRequestTimeoutMs * 4);
      const answer = admin.AdminResponse.decode(reply.data);
      // Deleted, but this session not ended on the way (an owner older than the deletion's sweep): ended here.
      if (answer.result?.$case === 'removeAccount' && this.#removals.has(s.id)) this.#endDeleted(s, 'account deleted');
      return answer;
    } finally {
      this.#removals.delete(s.id);
    }
  }

  /**
   * Account deletion: every stream of the user here ends, bound sessions
   * that never sent presence (so the owner never heard of them) included.
   * The ids go back to the owner, which ignores what those sessions sent
   * before their end and it has not handled yet.
   */
  #kickUser(req: admin.NodeKickRequest): string[] {
    const sessions = [...this.sessions.ofUser(req.fullJid)];
    for (const s of sessions) this.#endDeleted(s, req.text);
    return sessions.map((s) => s.id);
  }

  async #watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.log.warn('NATS connection lost', { server: status.server });
      if (status.type === 'reconnect') {
        this.log.info('NATS reconnected', { server: status.server });
        this.#resync();
      }
    }
  }

  /**
   * Core NATS drops what is published to a subscription while its client
   * reconnects: deliveries to this node's users may be gone. Each available
   * session asks its owner to probe its contacts again, so views converge.
   */
  #resync(): void {
    let n = 0;
    for (const s of this.sessions.all()) {
      if (!s.available || !s.announced) continue;
      this.publishEvent(s, { $case: 'resync', resync: {} });
      n++;
    }
    if (n > 0) this.log.info('asked shard owners to resync presence after reconnecting', { sessions: n });
  }

  stop(): void {
    this.#inbound.drainAll();
    this.#flush();
    clearTimeout(this.#heartbeat);
    clearInterval(this.#fenceTimer);
    this.#requests.close();
    for (const s of [...this.#subs, ...this.#deliverySubs.values()]) s.unsubscribe();
    this.#deliverySubs.clear();
  }

  /** Publishes a session event to the owner of the user's shard, announcing the session first. */
  publishEvent(s: LocalSession, event: cluster.SessionEvent['event']): void {
    if (event?.$case !== 'ended') this.sessions.announce(s);
    if (!this.#announcedAs.has(s)) this.#announcedAs.set(s, this.#incarnation);
    const msg: cluster.SessionEvent = { session: this.#ref(s), event };
    this.#publish(this.#subjects.shardSession(s.shard), cluster.SessionEvent.encode(msg).finish());
  }

  /** A stanza from a local client to another user's sessions, wherever they are. */
  publishDelivery(toJid: string, bareJid: string, fromBareJid: string, kind: cluster.DeliveryKind, stanzaXml: string): void {
    const d: cluster.Delivery = { toJid, stanzaXml, shard: 0, epoch: 0, kind, fromBareJid, blockList: [] };
    this.#publish(this.#subjects.deliver(bareJid), cluster.Delivery.encode(d).finish());
  }

  /**
   * A message or iq for another user's sessions, with the verdict RFC 6121
   * §8.5 needs: true when some node delivered it (to the full JID itself, or
   * to at least one eligible resource of a bare JID). Every node holding a
   * session of the user answers; nobody subscribed (no session anywhere, no
   * account) is NATS's immediate "no responders". The verdict never delays
   * the delivery itself, only the error a sender may get.
   */
  async deliverWithVerdict(toJid: string, bareJid: string, fromBareJid: string, kind: cluster.DeliveryKind, stanzaXml: string): Promise<boolean> {
    const d: cluster.Delivery = { toJid, stanzaXml, shard: 0, epoch: 0, kind, fromBareJid, blockList: [] };
    try {
      const data = cluster.Delivery.encode(d).finish();
      const replies = await this.#inTurn(() => this.nc.requestMany(this.#subjects.deliver(bareJid), data, {
        strategy: 'stall',
        stall: VERDICT_STALL_MS,
        maxWait: this.config.rosterRequestTimeoutMs,
      }));
      for await (const reply of replies) {
        if (reply.data[0] === DELIVERED[0]) return true;
      }
      return false;
    } catch (e) {
      if (e instanceof NoRespondersError) return false;
      throw e;
    }
  }

  /** An inbound stanza the recipient's shard owner must process (RFC 6121 §4.4.2 presence errors). */
  publishInbound(toBareJid: string, msg: cluster.InboundStanza): void {
    this.#publish(this.#subjects.shardInbound(this.shardOf(toBareJid)), cluster.InboundStanza.encode(msg).finish());
  }

  /** Asks the owner of `aboutBareJid`'s shard to answer an iq; resolves with its reply. */
  async iq(s: LocalSession, aboutBareJid: string, stanzaXml: string): Promise<cluster.IqResponse> {
    return this.request({ session: this.#ref(s), stanzaXml, typed: undefined }, aboutBareJid);
  }

  /**
   * A typed iq request from session `s` (see IqRequest.typed), with the
   * stamped XML it stands for: an authority older than the typed form
   * answers that instead, so authorities and nodes can be upgraded in
   * either order.
   */
  iqRequest(s: LocalSession, typed: cluster.IqRequest['typed'], stanzaXml: string): cluster.IqRequest {
    return { session: this.#ref(s), stanzaXml, typed };
  }

  /** Sends an iq request (XML or typed) to the owner of `aboutBareJid`'s shard; resolves with its answer. */
  async request(req: cluster.IqRequest, aboutBareJid: string): Promise<cluster.IqResponse> {
    const data = cluster.IqRequest.encode(req).finish();
    const reply = await this.#requests.request(this.#subjects.shardIq(this.shardOf(aboutBareJid)), data, this.config.rosterRequestTimeoutMs, this.#sendRequest);
    return cluster.IqResponse.decode(reply.data);
  }

  /** A plain request through the node's multiplexer, sent in this turn's flush (JetStream direct gets, a XEP-0077 removal). */
  requestRaw(subject: string, data: Uint8Array, timeoutMs = this.config.rosterRequestTimeoutMs): Promise<Msg> {
    return this.#requests.request(subject, data, timeoutMs, this.#sendRequest);
  }

  readonly #sendRequest = (subject: string, data: Uint8Array, reply: string): void => {
    this.#outbox.push(() => this.nc.publish(subject, data, { reply }));
    this.#scheduleFlush();
  };

  #ref(s: LocalSession): cluster.SessionRef {
    return { sessionId: s.id, fullJid: s.fullJid, nodeId: this.config.nodeId, incarnation: this.#announcedAs.get(s) ?? this.#incarnation };
  }

  /**
   * Publishes and requests leave once per event-loop turn, in the order they
   * were made: nats.js writes to its socket at every microtask checkpoint, so
   * the messages of many client streams handled in one turn would otherwise
   * cost a write each. Payloads are encoded at the call, so what is sent is
   * the state at that moment.
   */
  #publish(subject: string, data: Uint8Array): void {
    this.#outbox.push(() => this.nc.publish(subject, data));
    this.#scheduleFlush();
  }

  /** A request, made in the flush of this turn in its place among the publishes (nats.js writes it synchronously). */
  #inTurn<T>(request: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#outbox.push(() => {
        let sent: Promise<T>;
        try {
          sent = request();
        } catch (e) {
          return reject(e);
        }
        sent.then(resolve, reject);
      });
      this.#scheduleFlush();
    });
  }

  #outbox: (() => void)[] = [];
  #flushScheduled = false;

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#writes.schedule();
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const out = this.#outbox;
    this.#outbox = [];
    for (const send of out) send();
  };

  #sendHeartbeat(): void {
    // Session events counted in the digest go out before it.
    this.#flush();
    const hb: cluster.Heartbeat = {
      nodeId: this.config.nodeId,
      incarnation: this.incarnation,
      seq: ++this.#seq,
      shards: this.sessions.digests().map(([shard, d]) => ({ shard, count: d.count, hash: d.hash })),
      sentAtUnixMs: Date.now(),
    };
    try {
      this.nc.publish(this.#subjects.heartbeat(this.config.nodeId), cluster.Heartbeat.encode(hb).finish());
    } catch (e) {
      this.log.warn('heartbeat not published', { err: e });
      return;
    }
    // The client buffers while disconnected; only the server's answer proves the heartbeat went out.
    const sentAt = performance.now();
    const fence = this.#selfFence;
    fence?.sent(sentAt);
    this.nc.flush().then(
      () => fence?.confirmed(sentAt),
      (e: unknown) => this.log.debug('heartbeat flush failed', { err: e }),
    );
  }

  /**
   * Self-fencing: a node whose heartbeats have not been confirmed for the
   * self-fence time, or whose event loop was stalled that long (SIGSTOP, a
   * long GC), may already be declared dead; it ends every client stream and
   * comes back as a new incarnation, so no client keeps a session the
   * cluster announced unavailable. A shorter stall only makes it publish at
   * once (self-fence.ts says why the silence it caused is not held against it).
   */
  #checkFence(): void {
    const verdict = this.#selfFence?.check(performance.now());
    if (verdict?.kind === 'publish') this.#sendHeartbeat();
    else if (verdict?.kind === 'fence') this.#fence(verdict.reason);
  }

  /** Ends every client stream and starts a new incarnation (the old one's sessions are, or will be, announced). */
  #fence(reason: string): void {
    // A fresh grace period, so a still-absent server does not fence in a loop.
    this.#selfFence?.restart(performance.now());
    if (this.sessions.size === 0) return; // nothing anyone could be misled about
    const previous = this.#incarnation;
    this.#incarnation = randomBytes(8).toString('hex');
    this.log.error('node fenced itself', { reason, previous, incarnation: this.#incarnation, sessions: this.sessions.size });
    this.#onFence(reason);
    this.#sendHeartbeat();
  }

  #subscribeDeliveries(bareJid: string): void {
    // One callback for every user's subscription: the delivery names its recipient, the closure need not.
    this.#deliverySubs.set(bareJid, this.nc.subscribe(this.#subjects.deliver(bareJid), { callback: this.#onDelivery }));
  }

  /**
   * One fan-out of a batch every node receives (see fan-out-scan.ts): only
   * what has a recipient with a session on this node is decoded and queued.
   * A fan-out without one still counts for fencing, as it did when every
   * fan-out went through `#fresh` in queue order: unless its epoch equals
   * the highest epoch already queued for its shard (then `#fresh` would do
   * nothing), it is queued for that check alone.
   */
  readonly #onFanOut = (f: FanOutView): void => {
    let local: string[] | undefined;
    for (let i = 0; i < f.recipientCount; i++) {
      const to = f.recipient(i);
      if (to.includes('/') ? this.sessions.get(to) !== undefined : this.sessions.hasUser(to)) (local ??= []).push(to);
    }
    const { shard, epoch } = f;
    if (local === undefined) {
      if (epoch !== 0 && epoch !== (this.#epochsQueued.get(shard) ?? 0)) {
        this.#queuedEpoch(shard, epoch);
        this.#inbound.push(() => void this.#fresh({ shard, epoch }));
      }
      return;
    }
    this.#queuedEpoch(shard, epoch);
    const fanOut: cluster.FanOut = { stanzaXml: f.stanzaXml(), fromBareJid: f.fromBareJid(), shard, epoch, toJids: local };
    this.#inbound.push(() => this.#deliverFanOut(fanOut));
  };

  /** Per shard, the highest owner epoch of anything queued so far (at least the one `#epochs` holds). */
  readonly #epochsQueued = new Map<number, number>();

  #queuedEpoch(shard: number, epoch: number): void {
    if (epoch > (this.#epochsQueued.get(shard) ?? 0)) this.#epochsQueued.set(shard, epoch);
  }

  readonly #onDelivery = (err: Error | null, msg: Msg): void => {
    if (err) return this.log.error('delivery subscription failed', { subject: msg.subject, err });
    let d: cluster.Delivery;
    try {
      d = cluster.Delivery.decode(msg.data);
    } catch (e) {
      return droppedMessage(this.log, msg.subject, e);
    }
    this.#queuedEpoch(d.shard, d.epoch);
    this.#inbound.push(() => {
      const delivered = this.#deliverLocally(d);
      if (msg.reply !== undefined && msg.reply !== '') msg.respond(delivered > 0 ? DELIVERED : NOT_DELIVERED);
    });
  };

  /** XEP-0191: a blocked sender's iq get/set is answered service-unavailable, as if nobody were there. */
  #refuseIq(d: cluster.Delivery): void {
    let iq;
    try {
      iq = parseStanza(d.stanzaXml);
    } catch (e) {
      return this.log.warn('unparsable iq from a blocked sender dropped', { err: e });
    }
    const type = iq.attr('type');
    const from = iq.attr('from');
    if ((type !== 'get' && type !== 'set') || from === undefined) return;
    const reply = errorReply(iq, new StanzaError('service-unavailable', 'cancel')).toString();
    this.publishDelivery(from, from.split('/')[0] ?? from, '', cluster.DeliveryKind.DELIVERY_KIND_IQ, reply);
  }

  /**
   * Fencing (DESIGN.md "A lease is not a lock"): per shard, the highest owner
   * epoch seen so far; a delivery decided under an older epoch comes from a
   * deposed owner and is dropped. Epoch 0 is a client's own stanza.
   */
  #fresh(d: { readonly shard: number; readonly epoch: number }): boolean {
    if (d.epoch === 0) return true;
    const seen = this.#epochs.get(d.shard) ?? 0;
    if (d.epoch < seen) {
      this.log.warn('delivery from a deposed shard owner dropped', { shard: d.shard, epoch: d.epoch, current: seen });
      return false;
    }
    if (d.epoch > seen) this.#epochs.set(d.shard, d.epoch);
    return true;
  }

  /**
   * The subject is a hash, so check the exact JID before writing to a socket.
   * Full JID: that session. Bare JID: the sessions the kind selects, each
   * addressed by its full JID. Stanzas from entities the user blocked are
   * dropped (XEP-0191 §3.5), except the server's own pushes.
   * Returns how many sessions got it.
   */
  /** A shard owner's presence broadcast: this node's sessions among the recipients get it (see FanOut). */
  #deliverFanOut(f: cluster.FanOut): void {
    if (!this.#fresh(f)) return;
    const from = f.fromBareJid;
    for (const to of f.toJids) {
      if (to.includes('/')) {
        // A full JID: that session, unless its user blocked the sender (the session knows its bare JID).
        const s = this.sessions.get(to);
        if (s !== undefined && (from === '' || !this.sessions.hasBlocked(s.bareJid, from))) s.send(withTo(f.stanzaXml, to));
        continue;
      }
      if (from !== '' && this.sessions.hasBlocked(to, from)) continue;
      for (const s of this.sessions.ofUser(to)) {
        if (s.available) s.send(withTo(f.stanzaXml, s.fullJid));
      }
    }
  }

  #deliverLocally(d: cluster.Delivery): number {
    const K = cluster.DeliveryKind;
    if (!this.#fresh(d)) return 0;
    const slash = d.toJid.indexOf('/');
    const bare = slash === -1 ? d.toJid : d.toJid.slice(0, slash);
    if (d.kind === K.DELIVERY_KIND_BLOCK_PUSH) this.sessions.setBlockList(bare, d.blockList);
    const fromServer = d.kind === K.DELIVERY_KIND_ROSTER_PUSH || d.kind === K.DELIVERY_KIND_BLOCK_PUSH;
    if (!fromServer && d.fromBareJid !== '' && this.sessions.hasBlocked(bare, d.fromBareJid)) {
      // A verdict request (a message) gets "not delivered", so its sender hears service-unavailable (XEP-0191 §3.5).
      if (d.kind === K.DELIVERY_KIND_IQ) this.#refuseIq(d);
      return 0;
    }
    if (slash !== -1) {
      const s = this.sessions.get(d.toJid);
      s?.send(d.stanzaXml);
      return s === undefined ? 0 : 1;
    }
    let n = 0;
    for (const s of this.sessions.ofUser(bare)) {
      if (!wants(s, d.kind)) continue;
      s.send(readdress(d.stanzaXml, s.fullJid));
      n++;
    }
    return n;
  }
}

function wants(s: LocalSession, kind: cluster.DeliveryKind): boolean {
  const K = cluster.DeliveryKind;
  switch (kind) {
    case K.DELIVERY_KIND_ROSTER_PUSH:
      return s.rosterInterested;
    case K.DELIVERY_KIND_BLOCK_PUSH:
      return s.blocklistInterested;
    case K.DELIVERY_KIND_MESSAGE:
      return s.available && s.priority >= 0;
    case K.DELIVERY_KIND_IQ:
      return false;
    default:
      return s.available;
  }
}

function sessionState(s: LocalSession, ref: cluster.SessionRef): cluster.SessionState {
  return { session: ref, available: s.available, presenceXml: s.presenceXml, priority: s.priority, presenceSeq: s.presenceSeq };
}
