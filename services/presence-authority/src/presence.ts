import { performance } from 'node:perf_hooks';
import { cluster, type store } from '@vigil/proto';
import { shardOf } from '@vigil/cluster';
import { bareOf, broadcastJids, isBlocked, viewMayAnswerProbe, type RosterView } from '@vigil/roster';
import { escapeAttr, parseStanza } from '@vigil/xmpp';
import type { LastSeen } from '@vigil/store';
import type { AuthorityContext } from './context.js';
import { jidsWith, jidsWithout, NO_JIDS, type SessionRecord } from './registry.js';
import { BackgroundWrites } from './background-writes.js';
import { CompactSessionRecord } from './session-record.js';
import type { UserEntry } from './user-records.js';
import { domainOf, lastUnavailableFrom, localpartOf, unavailableFrom } from './stanza-text.js';

const { EndCause } = cluster;
type EndCause = cluster.EndCause;
const AVAILABLE = 'available';

export const END_CAUSE_NAME: Record<number, string> = {
  [EndCause.END_CAUSE_GRACEFUL]: 'graceful',
  [EndCause.END_CAUSE_CLIENT_LOST]: 'client-lost',
  [EndCause.END_CAUSE_NODE_LOST]: 'node-lost',
  [EndCause.END_CAUSE_KICKED]: 'kicked',
};

/**
 * RFC 6121 §4 for the users of owned shards: broadcast, probes, directed
 * presence, presence errors, and the unavailable that ends every session.
 * Every method runs inside the user's queue (the caller's job).
 */
export class PresenceCore {
  /** Last-seen writes, after fan-out and bounded, deferred while a burst of session ends lasts (see BackgroundWrites). */
  readonly #writes = new BackgroundWrites(32);
  /**
   * Last-seen values decided but not yet stored, by localpart: the write
   * leaves after the fan-out, so a contact told "unavailable" may ask for
   * last activity (XEP-0012) before the store has it. Holds only writes in
   * flight (each entry leaves when its write ends).
   */
  readonly #unwritten = new Map<string, LastSeen>();
  /** Last-seen writes queued and not yet done (each leaves the set when it ends). */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(private readonly ctx: AuthorityContext) {}

  recordFor(ref: cluster.SessionRef): SessionRecord {
    const existing = this.ctx.registry.get(ref.sessionId);
    if (existing) return existing;
    const bareJid = bareOf(ref.fullJid);
    const ids = this.ctx.registry.canonicalIncarnation(ref.nodeId, ref.incarnation);
    const record = new CompactSessionRecord(ref.sessionId, ref.fullJid, bareJid, shardOf(bareJid, this.ctx.config.shardCount), ids);
    this.ctx.registry.add(record);
    return record;
  }

  /** A session from the durable registry, at takeover. */
  restore(stored: store.StoredSession): SessionRecord {
    const ref = stored.session;
    if (!ref) throw new TypeError('stored session without a reference');
    const record = this.recordFor(ref);
    record.available = stored.available;
    record.presenceXml = stored.presenceXml;
    record.priority = stored.priority;
    record.availableSinceUnixMs = stored.availableSinceUnixMs;
    for (const t of stored.directedTo) record.directedTo = jidsWith(record.directedTo, t);
    for (const e of stored.presenceErrorsFrom) record.presenceErrorsFrom = jidsWith(record.presenceErrorsFrom, e);
    this.ctx.registry.setPresenceSeq(record, stored.presenceSeq);
    return record;
  }

  async broadcast(ref: cluster.SessionRef, p: cluster.BroadcastPresence): Promise<void> {
    const started = performance.now();
    try {
      await this.#broadcast(ref, p);
    } finally {
      this.ctx.metrics.fanOutTook('broadcast', performance.now() - started);
    }
  }

  /**
   * broadcast() with the user's roster entry in hand (UserRecords.cached):
   * all of it happens now, so a caller that found the user's queue idle may
   * run it outside the queue.
   */
  broadcastWith(ref: cluster.SessionRef, p: cluster.BroadcastPresence, user: UserEntry): void {
    const started = performance.now();
    try {
      const s = this.recordFor(ref);
      this.ctx.registry.setPresenceSeq(s, p.seq);
      this.#broadcastWith(s, p, user);
    } finally {
      this.ctx.metrics.fanOutTook('broadcast', performance.now() - started);
    }
  }

  async #broadcast(ref: cluster.SessionRef, p: cluster.BroadcastPresence): Promise<void> {
    const s = this.recordFor(ref);
    this.ctx.registry.setPresenceSeq(s, p.seq);
    this.#broadcastWith(s, p, await this.ctx.records.entry(localpartOf(s.bareJid)));
  }

  /** After setPresenceSeq. */
  #broadcastWith(s: SessionRecord, p: cluster.BroadcastPresence, user: UserEntry): void {
    const { record: rec, view } = user;
    if (p.available) {
      const initial = !s.available;
      s.available = true;
      s.presenceXml = p.stanzaXml;
      s.priority = p.priority;
      if (initial) s.availableSinceUnixMs = this.ctx.wallNowMs();
      this.#fanOut(this.#recipients(s, view, 'available'), p.stanzaXml, s.bareJid, 'available');
      // RFC 6121 §4.2.2: the resource that sent initial presence gets it too.
      this.ctx.outbox.deliver(s.fullJid, p.stanzaXml, s.bareJid);
      this.ctx.events.changed(s, AVAILABLE);
      if (initial) this.#onInitial(s, view, rec.pendingIn, p.restored);
      this.ctx.journal.save(s);
      return;
    }
    this.#fanOut(this.#recipients(s, view, 'unavailable'), p.stanzaXml, s.bareJid, 'unavailable');
    this.ctx.outbox.deliver(s.fullJid, p.stanzaXml, s.bareJid);
    const was = s.available;
    s.available = false;
    s.directedTo = NO_JIDS;
    if (was) this.ctx.events.changed(s, EndCause.END_CAUSE_GRACEFUL);
    this.ctx.journal.save(s);
    this.#noteLastSeen(s, p.stanzaXml);
  }

  /**
   * `restored`: a XEP-0198 resumption brought the session back after the
   * presence grace ended it; its client still shows what it saw before, so
   * the probes ask for the unavailable of contacts who left meanwhile.
   */
  #onInitial(s: SessionRecord, view: RosterView, pendingIn: UserEntry['record']['pendingIn'], restored: boolean): void {
    for (const contact of view.probeTargets) {
      if (domainOf(contact) !== this.ctx.config.domain) continue; // no server-to-server in this build
      this.ctx.outbox.probe({ fromFullJid: s.fullJid, toBareJid: contact, fromShard: s.shard, fromEpoch: 0, restored });
    }
    // §4.2.2: the new resource learns the presence of the user's other resources.
    for (const o of this.ctx.registry.sessionsOf(s.bareJid)) {
      if (o !== s && o.available) this.ctx.outbox.deliver(s.fullJid, o.presenceXml, s.bareJid);
    }
    // §3.1.3: requests that arrived while the user was offline are shown now.
    for (const pending of pendingIn) this.ctx.outbox.deliver(s.fullJid, pending.stanzaXml, pending.fromBareJid);
  }

  /** The session's node may have missed deliveries (NATS reconnect): probe its contacts again, answers to it alone. */
  async reprobe(s: SessionRecord): Promise<void> {
    const { view } = await this.ctx.records.entry(localpartOf(s.bareJid));
    for (const contact of view.probeTargets) {
      if (domainOf(contact) !== this.ctx.config.domain) continue;
      this.ctx.outbox.probe({ fromFullJid: s.fullJid, toBareJid: contact, fromShard: s.shard, fromEpoch: 0, restored: false });
    }
    for (const o of this.ctx.registry.sessionsOf(s.bareJid)) {
      if (o !== s && o.available) this.ctx.outbox.deliver(s.fullJid, o.presenceXml, s.bareJid);
    }
  }

  async directed(ref: cluster.SessionRef, d: cluster.DirectedPresence): Promise<void> {
    const s = this.recordFor(ref);
    // RFC 6121 §4.6.3: remember who got directed presence, so the session's end reaches them.
    s.directedTo = d.available ? jidsWith(s.directedTo, d.toJid) : jidsWithout(s.directedTo, d.toJid);
    this.ctx.journal.save(s);
    const { view } = await this.ctx.records.entry(localpartOf(s.bareJid));
    if (isBlocked(view.blocked, d.toJid)) return; // XEP-0191: nothing to a blocked entity
    if (domainOf(d.toJid) === this.ctx.config.domain) this.ctx.outbox.deliver(d.toJid, d.stanzaXml, s.bareJid);
  }

  /**
   * RFC 6121 §4.5.2: unavailable to every recipient of the session's presence, whatever the cause.
   * False when the session had already ended (nothing announced now).
   */
  async end(record: SessionRecord, cause: EndCause, reason: string): Promise<boolean> {
    if (!this.ctx.registry.remove(record)) return false;
    const started = performance.now();
    // Erase the durable entry only after the announcement below is out: a crash in between repeats it rather than loses it.
    const dropped = (): void => this.ctx.journal.drop(record);
    let delivered = 0;
    if (record.available || record.directedTo.size > 0) {
      const { view } = await this.ctx.records.entry(localpartOf(record.bareJid));
      const recipients = this.#recipients(record, view, 'unavailable');
      this.#fanOut(recipients, unavailableFrom(record.fullJid), record.bareJid, 'unavailable');
      delivered = recipients.length;
    }
    if (record.available) this.ctx.events.changed(record, cause);
    dropped();
    const causeName = END_CAUSE_NAME[cause] ?? 'unspecified';
    this.ctx.metrics.sessionEnded(causeName);
    this.ctx.metrics.fanOutTook('end', performance.now() - started);
    if (record.available) this.#noteLastSeen(record, '');
    // A node's mass expiry is summarized by the caller; one line per session would cost more than the fan-out.
    const log = cause === EndCause.END_CAUSE_NODE_LOST ? this.ctx.log.debug : this.ctx.log.info;
    log('session ended', {
      user: record.bareJid,
      session: record.sessionId,
      node: record.nodeId,
      cause: causeName,
      reason,
      recipients: delivered,
    });
    return true;
  }

  /**
   * RFC 6121 §4.3.2: answer with each available resource's presence. A prober
   * without a subscription gets 'unsubscribed' (the same for a missing
   * account), which repairs a stale 'to' on its side and reveals nothing; a
   * prober the contact blocked gets nothing at all (XEP-0191).
   */
  async answerProbe(p: cluster.Probe): Promise<void> {
    if (this.answerProbeWith(p, await this.ctx.records.entry(localpartOf(p.toBareJid)))) await this.answerUnavailable(p);
  }

  /**
   * answerProbe() with the contact's roster entry in hand: all of it happens
   * now (see broadcastWith). True when the prober is owed the contact's last
   * unavailable instead (a restored session's probe, no available resource):
   * the caller runs answerUnavailable() next in the contact's queue.
   */
  answerProbeWith(p: cluster.Probe, contact: UserEntry): boolean {
    const { view } = contact;
    const prober = bareOf(p.fromFullJid);
    if (isBlocked(view.blocked, prober)) return false;
    if (!viewMayAnswerProbe(view, prober)) {
      this.ctx.outbox.inbound({
        fromJid: p.toBareJid, toJid: prober, kind: cluster.InboundKind.INBOUND_KIND_SUBSCRIPTION, type: 'unsubscribed',
        stanzaXml: `<presence from='${escapeAttr(p.toBareJid)}' type='unsubscribed'/>`, fromShard: 0, fromEpoch: 0,
      });
      return false;
    }
    let answered = false;
    this.ctx.registry.forEachSessionOf(p.toBareJid, (s) => {
      if (!s.available) return;
      this.ctx.outbox.deliver(p.fromFullJid, s.presenceXml, p.toBareJid);
      answered = true;
    });
    return !answered && p.restored;
  }

  /**
   * RFC 6121 §4.3.2, for a restored session only (Probe.restored): its
   * client kept the presence it saw before the session ended, so a contact
   * with no available resource answers with its last unavailable. Ordinary
   * logins are not sent these (a client starts with everyone offline), and
   * they are the one probe answer that reads the store. Runs in the
   * contact's queue, after answerProbeWith() allowed the answer.
   */
  async answerUnavailable(p: cluster.Probe): Promise<void> {
    // Tasks queued before this one may have brought a resource back: then its broadcast or the probe answered.
    if (this.hasAvailable(p.toBareJid)) return;
    let last: LastSeen | undefined;
    try {
      last = await this.lastSeen(p.toBareJid);
    } catch (e) {
      this.ctx.metrics.kvError('last_seen', 'get');
      this.ctx.log.warn('last activity not read; the probe answer comes from the bare JID', { user: p.toBareJid, err: e });
    }
    this.ctx.outbox.deliver(p.fromFullJid, lastUnavailableFrom(p.toBareJid, last), p.toBareJid);
  }

  /** RFC 6121 §4.4.2: a contact that answered with an error gets no more broadcasts this session. */
  async presenceError(from: string, to: string): Promise<void> {
    const contact = bareOf(from);
    for (const s of this.ctx.registry.sessionsOf(bareOf(to))) {
      if (to.includes('/') && s.fullJid !== to) continue;
      s.presenceErrorsFrom = jidsWith(s.presenceErrorsFrom, contact);
      this.ctx.journal.save(s);
    }
  }

  /** The current presence of each of the user's available resources, to one entity (§3.1.5 after approval); never to a blocked one. */
  async sendCurrentPresence(userBareJid: string, to: string): Promise<void> {
    if (await this.#blocks(userBareJid, to)) return;
    for (const s of this.ctx.registry.sessionsOf(userBareJid)) {
      if (s.available) this.ctx.outbox.deliver(to, s.presenceXml, userBareJid);
    }
  }

  /**
   * Unavailable from each of the user's available resources to one entity
   * (§3.2.2); a blocked entity gets it only at the moment of blocking
   * (XEP-0191 §3.3), never later, since it would reveal the resources.
   */
  async sendUnavailable(userBareJid: string, to: string, atBlocking = false): Promise<void> {
    if (!atBlocking && (await this.#blocks(userBareJid, to))) return;
    for (const s of this.ctx.registry.sessionsOf(userBareJid)) {
      if (s.available) this.ctx.outbox.deliver(to, unavailableFrom(s.fullJid), userBareJid);
    }
  }

  async #blocks(userBareJid: string, jid: string): Promise<boolean> {
    return isBlocked((await this.ctx.records.entry(localpartOf(userBareJid))).view.blocked, jid);
  }

  /** Directed-presence targets of the user's sessions (who would get their unavailable). */
  directedTargets(userBareJid: string): Set<string> {
    const out = new Set<string>();
    for (const s of this.ctx.registry.sessionsOf(userBareJid)) for (const t of s.directedTo) out.add(t);
    return out;
  }

  hasAvailable(userBareJid: string): boolean {
    return this.ctx.registry.someSessionOf(userBareJid, (s) => s.available);
  }

  /** RFC 6121 §4.5.2 recipients (broadcastRecipients, from the roster's view): bare or full JIDs; the caller must not change the array. */
  #recipients(s: SessionRecord, view: RosterView, kind: 'available' | 'unavailable'): readonly string[] {
    const others: string[] = [];
    this.ctx.registry.forEachSessionOf(s.bareJid, (o) => {
      if (o !== s && o.available) others.push(o.fullJid);
    });
    return broadcastJids(view, s, others, kind);
  }

  #fanOut(recipients: readonly string[], stanzaXml: string, fromBareJid: string, kind: 'available' | 'unavailable'): void {
    this.ctx.outbox.fanOut(recipients, stanzaXml, fromBareJid);
    this.ctx.metrics.fannedOut(kind, recipients.length);
  }

  /** XEP-0012: when the user's last available resource goes, remember when and with what status. */
  #noteLastSeen(s: SessionRecord, unavailableXml: string): void {
    if (this.hasAvailable(s.bareJid)) return;
    let status = '';
    if (unavailableXml !== '') {
      try {
        status = parseStanza(unavailableXml).getChildText('status') ?? '';
      } catch (e) {
        this.ctx.log.warn('unparsable unavailable presence', { user: s.bareJid, err: e });
      }
    }
    // Off the presence path, like the journal: KV may be electing a leader.
    const value: LastSeen = { unixMs: this.ctx.wallNowMs(), status, fullJid: s.fullJid };
    const local = localpartOf(s.bareJid);
    this.#unwritten.set(local, value);
    const written = this.#writes.run(() => this.ctx.lastSeen.put(local, value), true).catch((e: unknown) => {
      this.ctx.metrics.kvError('last_seen', 'put');
      this.ctx.log.warn('last activity not stored', { user: s.bareJid, err: e });
    }).finally(() => {
      if (this.#unwritten.get(local) === value) this.#unwritten.delete(local);
      this.#inFlight.delete(written);
    });
    this.#inFlight.add(written);
  }

  /** Stores every last-seen decided so far now, without waiting for a pause in session ends (a hand-over, a shutdown). */
  async flushLastSeen(): Promise<void> {
    this.#writes.hurry();
    await Promise.all([...this.#inFlight]);
  }

  /** When the user was last seen (XEP-0012): a value still being stored counts already. */
  async lastSeen(userBareJid: string): Promise<LastSeen | undefined> {
    const local = localpartOf(userBareJid);
    return this.#unwritten.get(local) ?? this.ctx.lastSeen.get(local);
  }
}
