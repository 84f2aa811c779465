import { performance } from 'node:perf_hooks';
import { cluster, type store } from '@vigil/proto';
import { shardOf } from '@vigil/cluster';
import { bareOf, broadcastJids, isBlocked, viewMayAnswerProbe, type RosterView } from '@vigil/roster';
import { escapeAttr, parseStanza } from '@vigil/xmpp';
import { mergeLastSeen, RevisionConflictError, type LastSeen } from '@vigil/store';
import type { AuthorityContext } from './context.js';
import { jidsWith, jidsWithout, NO_JIDS, type SessionRecord } from './registry.js';
import { BackgroundWrites } from './background-writes.js';
import { CompactSessionRecord } from './session-record.js';
import type { UserEntry } from './user-records.js';
import { domainOf, lastUnavailables, localpartOf, unavailableFrom } from './stanza-text.js';

const { EndCause } = cluster;
type EndCause = cluster.EndCause;
const AVAILABLE = 'available';

/** Ends noted for a user and not yet stored (PresenceCore.#unwritten). */
interface NotedEnds {
  readonly value: LastSeen;
  /** The user's shard, owned here at `epoch` when the ends were noted. */
  readonly shard: number;
  readonly epoch: number;
}

/** Compare-and-set conflicts a last-seen write retries before it gives up (logged): only a competing writer causes one. */
const MAX_LAST_SEEN_CONFLICTS = 3;

export const END_CAUSE_NAME: Record<number, string> = {
  [EndCause.END_CAUSE_GRACEFUL]: 'graceful',
  [EndCause.END_CAUSE_CLIENT_LOST]: 'client-lost',
  [EndCause.END_CAUSE_NODE_LOST]: 'node-lost',
  [EndCause.END_CAUSE_KICKED]: 'kicked',
};

/**
 * RFC 6121 §4 for the users of owned shards: broadcast, probes, directed
 * presence, presence errors, and the unavailable that ends every session.
 * Every method runs inside the user's queue (the caller's job), but the
 * reads endsFor() and resourceEnds(), which a restored probe makes before its turn.
 */
export class PresenceCore {
  /** Last-seen writes, after fan-out and bounded, deferred while a burst of session ends lasts (see BackgroundWrites). */
  readonly #writes = new BackgroundWrites(32);
  /**
   * Resource ends noted but not yet stored, by localpart, merged into one
   * value (mergeLastSeen) that the user's one queued write merges onto the
   * stored value: the write leaves after the fan-out, so a contact told
   * "unavailable" may ask for last activity (XEP-0012), or a restored
   * session probe, before the store has it. Holds only users with a write
   * queued or in flight (an entry leaves when its write ends). Each with
   * the user's shard and the epoch it was noted at: it is written only
   * while this replica still owns the shard at that epoch (#store).
   */
  readonly #unwritten = new Map<string, NotedEnds>();
  /** Last-seen writes queued and not yet done (each leaves the set when it ends). */
  readonly #inFlight = new Set<Promise<void>>();
  /** The user's writes in #inFlight that have started (forgetLastSeen waits for those; one queued later finds nothing). */
  readonly #startedOf = new Map<string, Set<Promise<void>>>();

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
    if (was || !this.hasAvailable(s.bareJid)) this.#noteLastSeen(s, p.stanzaXml);
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
   * prober the contact blocked gets nothing at all (XEP-0191). `ended`: what
   * endsFor() read for a restored session's probe.
   */
  async answerProbe(p: cluster.Probe, ended?: LastSeen): Promise<void> {
    this.answerProbeWith(p, await this.ctx.records.entry(localpartOf(p.toBareJid)), ended);
  }

  /**
   * answerProbe() with the contact's roster entry in hand: all of it happens
   * now (see broadcastWith). A restored session's probe (Probe.restored) is
   * also answered with an unavailable from each remembered resource of the
   * contact that is not available now (see lastUnavailables), read by
   * endsFor() before the probe's turn: its client kept the presence it saw
   * before the session ended, and may still show any of them.
   */
  answerProbeWith(p: cluster.Probe, contact: UserEntry, ended?: LastSeen): void {
    const { view } = contact;
    const prober = bareOf(p.fromFullJid);
    if (isBlocked(view.blocked, prober)) return;
    if (!viewMayAnswerProbe(view, prober)) {
      this.ctx.outbox.inbound({
        fromJid: p.toBareJid, toJid: prober, kind: cluster.InboundKind.INBOUND_KIND_SUBSCRIPTION, type: 'unsubscribed',
        stanzaXml: `<presence from='${escapeAttr(p.toBareJid)}' type='unsubscribed'/>`, fromShard: 0, fromEpoch: 0,
      });
      return;
    }
    const available: string[] = [];
    this.ctx.registry.forEachSessionOf(p.toBareJid, (s) => {
      if (!s.available) return;
      this.ctx.outbox.deliver(p.fromFullJid, s.presenceXml, p.toBareJid);
      available.push(s.fullJid);
    });
    if (!p.restored) return;
    for (const xml of lastUnavailables(p.toBareJid, ended, available)) this.ctx.outbox.deliver(p.fromFullJid, xml, p.toBareJid);
  }

  /**
   * What a restored session's probe needs from the store (the contact's
   * remembered resource ends, with those not stored yet), read before the
   * probe takes its turn in the contact's queue, so a slow read holds up
   * nothing else of the contact's. Undefined at once for any other probe:
   * an ordinary login reads nothing (a client starts with everyone
   * offline). A failed read is logged and answered as if nothing were known
   * (an unavailable from the bare JID when nobody is available).
   */
  async endsFor(p: cluster.Probe): Promise<LastSeen | undefined> {
    if (!p.restored) return undefined;
    try {
      return await this.resourceEnds(p.toBareJid);
    } catch (e) {
      this.ctx.metrics.kvError('last_seen', 'get');
      this.ctx.log.warn('last activity not read; the probe answer comes from the bare JID', { user: p.toBareJid, err: e });
      return undefined;
    }
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

  /**
   * XEP-0012, and restored sessions: when one of the user's resources goes,
   * remember when, which and with what status (its end becomes the value's
   * last one, mergeLastSeen). Each end is noted, not only the last
   * resource's: a contact's restored session must learn about every
   * resource that left while it was away, even while another stays.
   */
  #noteLastSeen(s: SessionRecord, unavailableXml: string): void {
    let status = '';
    if (unavailableXml !== '') {
      try {
        status = parseStanza(unavailableXml).getChildText('status') ?? '';
      } catch (e) {
        this.ctx.log.warn('unparsable unavailable presence', { user: s.bareJid, err: e });
      }
    }
    const ended: LastSeen = { unixMs: this.ctx.wallNowMs(), status, fullJid: s.fullJid };
    const local = localpartOf(s.bareJid);
    const epoch = this.ctx.epochOf(s.shard);
    if (epoch === undefined) {
      // Not the shard's owner (lost while this end was being announced): its owner keeps the key. Debug, one per
      // user: a loss can leave a mass expiry's ends queued, and the loss itself is logged (ShardManager, warn).
      this.ctx.log.debug('last activity not noted: the shard is not owned here', { user: s.bareJid, shard: s.shard });
      return;
    }
    const queued = this.#unwritten.get(local);
    // Ends noted at an earlier epoch (the shard lost and taken again since) are not this epoch's to write.
    this.#unwritten.set(local, { value: queued?.epoch === epoch ? mergeLastSeen(queued.value, ended) : ended, shard: s.shard, epoch });
    if (queued !== undefined) return; // the user's write, queued or running, stores this end too
    // Off the presence path, like the journal: KV may be electing a leader.
    const written: Promise<void> = this.#writes.run(() => {
      const started = this.#startedOf.get(local) ?? new Set<Promise<void>>();
      this.#startedOf.set(local, started.add(written));
      return this.#store(local);
    }, true).catch((e: unknown) => {
      this.ctx.metrics.kvError('last_seen', 'put');
      this.ctx.log.warn('last activity not stored', { user: s.bareJid, err: e });
    }).finally(() => {
      this.#inFlight.delete(written);
      const started = this.#startedOf.get(local);
      if (started?.delete(written) === true && started.size === 0) this.#startedOf.delete(local);
    });
    this.#inFlight.add(written);
  }

  /**
   * Merges the user's noted ends onto the stored value and writes it, again
   * while ends were noted during the write. One write per user at a time
   * (#noteLastSeen queues one only when none is). Written only by the
   * shard's owner: before each write, the user's shard must still be owned
   * here at the epoch the ends were noted at (a graceful hand-over keeps it
   * until flushLastSeen() is done); a replica that lost the shard drops
   * what it noted (one writer per user; mergeLastSeen goes by time, so a
   * late write could no longer undo the new owner's value, but it is not
   * made). The write is a compare-and-set at the revision read: a write
   * that came first (a new owner's, if the shard was lost during ours)
   * makes it read again, check the epoch again and merge onto that. The
   * read is this path's price for keeping earlier resources: one KV get
   * per write, after the fan-out like the write; a login reads nothing.
   */
  async #store(local: string): Promise<void> {
    try {
      let { value: stored, revision } = await this.ctx.lastSeen.read(local);
      for (let conflicts = 0; ;) {
        const noted = this.#unwritten.get(local);
        if (noted === undefined) return;
        if (this.ctx.epochOf(noted.shard) !== noted.epoch) {
          this.#unwritten.delete(local);
          // Debug, one per user, as when noting: the loss itself is logged (ShardManager, warn).
          this.ctx.log.debug('last activity not stored: the shard was lost since the end', { user: local, shard: noted.shard, epoch: noted.epoch });
          return;
        }
        const value = mergeLastSeen(stored, noted.value);
        try {
          revision = await this.ctx.lastSeen.update(local, value, revision);
        } catch (e) {
          if (!(e instanceof RevisionConflictError) || ++conflicts > MAX_LAST_SEEN_CONFLICTS) throw e;
          ({ value: stored, revision } = await this.ctx.lastSeen.read(local));
          continue;
        }
        if (this.#unwritten.get(local) === noted) {
          this.#unwritten.delete(local);
          return;
        }
        stored = value; // more ends were noted meanwhile: merged onto what is stored now, again
      }
    } catch (e) {
      // What was noted is lost (logged by the caller); the next end queues a write again.
      this.#unwritten.delete(local);
      throw e;
    }
  }

  /** Stores every last-seen decided so far now, without waiting for a pause in session ends (a hand-over, a shutdown). */
  async flushLastSeen(): Promise<void> {
    this.#writes.hurry();
    await Promise.all([...this.#inFlight]);
  }

  /**
   * Account deletion, before the stored value is removed: the user's noted
   * ends are dropped, and the user's writes that have already started are
   * waited for (one still queued starts later and finds nothing to write).
   * Otherwise a write that was waiting for a pause in session ends (the
   * account's own sessions, just kicked, note theirs) would store the
   * deleted user's last activity again after the removal, and show it to
   * whoever registers the name next. What the user's sessions sent before
   * their end and waits behind the deletion is dropped (SessionFence) and
   * later binds are refused, so on this owner nothing notes an end after
   * this (a hand-over does not carry the fence, see decisions.md).
   */
  async forgetLastSeen(userBareJid: string): Promise<void> {
    const local = localpartOf(userBareJid);
    this.#unwritten.delete(local);
    // Never rejects: a write's failure is logged where it was queued.
    await Promise.all([...(this.#startedOf.get(local) ?? [])]);
  }

  /**
   * When the user was last seen (XEP-0012): a value still being stored
   * counts already. Only its last end is whole: earlierEnds may miss those
   * stored before (see resourceEnds()).
   */
  async lastSeen(userBareJid: string): Promise<LastSeen | undefined> {
    const local = localpartOf(userBareJid);
    return this.#unwritten.get(local)?.value ?? this.ctx.lastSeen.get(local);
  }

  /** Every resource end remembered for the user: the stored value with the ends noted but not yet stored merged on. */
  async resourceEnds(userBareJid: string): Promise<LastSeen | undefined> {
    const local = localpartOf(userBareJid);
    // Noted before and after the read: a write that lands during the read leaves the second empty, its value in the store.
    const before = this.#unwritten.get(local)?.value;
    let value = await this.ctx.lastSeen.get(local);
    const after = this.#unwritten.get(local)?.value;
    if (before !== undefined) value = mergeLastSeen(value, before);
    if (after !== undefined && after !== before) value = mergeLastSeen(value, after);
    return value;
  }
}
