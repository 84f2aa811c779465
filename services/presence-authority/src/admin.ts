import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { admin, cluster, type store } from '@vigil/proto';
import { shardFromSubject, shardOf, type Subjects } from '@vigil/cluster';
import { bareOf, findItem } from '@vigil/roster';
import { itemToWire } from '@vigil/store';
import { el, escapeAttr, NS, parseStanza, type Element } from '@vigil/xmpp';
import type { AuthorityContext } from './context.js';
import type { IqCore } from './iq.js';
import { ShardNotOwnedError } from './journal.js';
import { KnownAccounts } from './known-accounts.js';
import type { PresenceCore } from './presence.js';
import type { WatchSequence } from './presence-events.js';
import type { SessionRecord } from './registry.js';
import type { FenceReason, SessionFence } from './session-fence.js';
import { localpartOf } from './stanza-text.js';
import type { SubscriptionCore } from './subscriptions.js';

const Code = admin.AdminErrorCode;
const KICKED = cluster.EndCause.END_CAUSE_KICKED;

/** What the owner side of the gRPC API needs from the authority. */
export interface AdminDeps {
  readonly ctx: AuthorityContext;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly presence: PresenceCore;
  readonly iqs: IqCore;
  readonly subscriptions: SubscriptionCore;
  readonly accounts: {
    exists(localpart: string): Promise<boolean>;
    delete(localpart: string): Promise<boolean>;
  };
  readonly sequenceOf: (bareJid: string, epoch: number) => WatchSequence;
  /** The epoch at which this replica owns a shard, undefined when it does not. */
  readonly epochOf: (shard: number) => number | undefined;
  /** How long a connection node may take to confirm a kick. */
  readonly kickTimeoutMs: number;
  /** Sessions ended here whose queued events are to be dropped (kicks and deletions record theirs). */
  readonly fence: SessionFence;
  /** The connection nodes with a live lease: an account deletion asks each to end the user's streams. */
  readonly liveNodes: () => readonly string[];
  /** How long until liveNodes() is whole (0: it is): this replica must have listened to heartbeats for a node lease without a gap. */
  readonly nodesAllKnownInMs: () => number;
}

/** A refusal with the code and field the replica turns into a gRPC status. */
export class AdminFailure extends Error {
  constructor(
    readonly code: admin.AdminErrorCode,
    message: string,
    readonly detail: { readonly field?: string; readonly resourceType?: string; readonly resourceName?: string } = {},
  ) {
    super(message);
    this.name = 'AdminFailure';
  }
}

/** Accounts remembered as existing (KnownAccounts): a bounded LRU of bare JIDs. */
const KNOWN_ACCOUNTS_MAX = 100_000;
/** How long "this account exists" is believed without asking the store again. */
const KNOWN_ACCOUNTS_TTL_MS = 60_000;

const notFound = (resourceType: string, resourceName: string, message = `no ${resourceType} ${resourceName}`): AdminFailure =>
  new AdminFailure(Code.ADMIN_ERROR_CODE_NOT_FOUND, message, { resourceType, resourceName });

/**
 * The owner side of the gRPC API (`<p>.shard.<n>.admin`): reads from the
 * in-memory registry and the stores, writes through the same cores as the
 * XMPP path. Everything about a user runs in that user's queue, so it sees the
 * user's changes in order and a snapshot agrees with its watch sequence.
 */
export class AdminHandler {
  readonly #known = new KnownAccounts(KNOWN_ACCOUNTS_MAX, KNOWN_ACCOUNTS_TTL_MS, () => performance.now());
  /** Moves at the start and the end of every deletion: a lookup that overlapped one is not remembered. */
  #deletions = 0;

  constructor(private readonly deps: AdminDeps) {}

  handle(m: Msg): void {
    const shard = shardFromSubject(m.subject, this.deps.subjects.prefix);
    let req: admin.AdminRequest;
    try {
      req = admin.AdminRequest.decode(m.data);
    } catch (e) {
      this.deps.ctx.log.warn('malformed admin request', { subject: m.subject, err: e });
      m.respond(encodeFailure(new AdminFailure(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, 'malformed request')));
      return;
    }
    // Through the outbox: roster pushes decided by the call leave before its answer.
    void this.answer(shard ?? -1, req).then((res) => {
      if (m.reply) this.deps.ctx.outbox.send(m.reply, admin.AdminResponse.encode(res).finish());
    });
  }

  /**
   * The answer to one request about users of `shard`, as it would go back
   * over NATS; never throws. The gRPC API on this replica calls it directly
   * for reads about shards it owns (OwnerClient).
   */
  async answer(shard: number, req: admin.AdminRequest): Promise<admin.AdminResponse> {
    try {
      const op = req.op;
      switch (op?.$case) {
        case 'presence':
          return { result: { $case: 'presence', presence: await this.#presence(shard, op.presence) } };
        case 'kick':
          return { result: { $case: 'kick', kick: await this.#kickSession(shard, op.kick) } };
        case 'lastSeen':
          return { result: { $case: 'lastSeen', lastSeen: await this.#lastSeen(shard, op.lastSeen.bareJid) } };
        case 'roster':
          return { result: { $case: 'roster', roster: await this.#roster(shard, op.roster.bareJid) } };
        case 'rosterEdit':
          return { result: { $case: 'rosterEdit', rosterEdit: await this.#rosterEdit(shard, op.rosterEdit) } };
        case 'removeAccount':
          return { result: { $case: 'removeAccount', removeAccount: await this.#removeAccount(shard, op.removeAccount.bareJid) } };
        default:
          throw new AdminFailure(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, 'empty or unknown admin request');
      }
    } catch (e) {
      if (e instanceof AdminFailure) return failure(e);
      if (e instanceof ShardNotOwnedError) return failure(notOwned(e.shard));
      this.deps.ctx.log.error('admin request failed', { shard, op: req.op?.$case, err: e });
      return failure(new AdminFailure(Code.ADMIN_ERROR_CODE_INTERNAL, 'internal error'));
    }
  }

  // --- reads ------------------------------------------------------------

  /**
   * One user's sessions read at once, without the user's queue, when that
   * gives the queued read's answer: the shard is ours, nothing is queued or
   * running for the user (a queued read would run right away, on this same
   * state), and the account is known to exist (a session proves it, or
   * KnownAccounts under this epoch). Undefined otherwise: the caller takes
   * the queued path (`answer`). GetPresence at 2,000 calls a second spent
   * more on the queue's promises and the time limit's timer than on the read.
   */
  presenceNow(shard: number, bare: string): admin.UserSessions | undefined {
    const epoch = this.deps.epochOf(shard);
    if (epoch === undefined || !this.deps.ctx.queue.idle(bare)) return undefined;
    if (shardOf(bare, this.deps.ctx.config.shardCount) !== shard) return undefined;
    const sessions = this.deps.ctx.registry.sessionsOf(bare);
    if (sessions.length === 0 && !this.#known.has(bare, epoch)) return undefined;
    const seq = this.deps.sequenceOf(bare, epoch);
    return { bareJid: bare, sessions: sessions.map(sessionInfo), epoch: seq.epoch, counter: seq.counter };
  }

  async #presence(shard: number, q: admin.PresenceQuery): Promise<admin.PresenceAnswer> {
    const epoch = this.#owned(shard, q.bareJids);
    const unique = [...new Set(q.bareJids)];
    const read = await Promise.all(
      unique.map((bare) =>
        this.#inQueue(bare, shard, epoch, async (): Promise<admin.UserSessions> => {
          const seq = this.deps.sequenceOf(bare, epoch);
          return { bareJid: bare, sessions: this.deps.ctx.registry.sessionsOf(bare).map(sessionInfo), epoch: seq.epoch, counter: seq.counter };
        }),
      ),
    );
    // Someone with a session certainly has an account; only the others are looked up.
    const unknown = await Promise.all(read.map(async (u) => (u.sessions.length === 0 && !(await this.#exists(u.bareJid, epoch)) ? u.bareJid : undefined)));
    const missing = unknown.filter((u): u is string => u !== undefined);
    if (missing.length > 0) throw notFound('account', missing[0] ?? '', `no account ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
    const byJid = new Map(read.map((u) => [u.bareJid, u] as const));
    return { users: q.bareJids.map((j) => byJid.get(j) as admin.UserSessions) };
  }

  async #lastSeen(shard: number, bare: string): Promise<admin.LastSeenAnswer> {
    const epoch = this.#owned(shard, [bare]);
    return this.#inQueue(bare, shard, epoch, async () => {
      if (this.deps.presence.hasAvailable(bare)) return { online: true, seen: true, unixMs: 0, status: '' };
      // Through PresenceCore: a last-seen decided but not yet stored (written after the fan-out) counts already.
      const seen = await this.deps.presence.lastSeen(bare);
      if (seen !== undefined) return { online: false, seen: true, unixMs: seen.unixMs, status: seen.status };
      if (!(await this.#exists(bare, epoch))) throw notFound('account', bare);
      return { online: false, seen: false, unixMs: 0, status: '' };
    });
  }

  async #roster(shard: number, bare: string): Promise<admin.RosterAnswer> {
    const epoch = this.#owned(shard, [bare]);
    await this.#mustExist(bare, epoch);
    return this.#inQueue(bare, shard, epoch, async () => {
      const rec = await this.deps.ctx.records.get(localpartOf(bare));
      const roster: store.StoredRoster = {
        version: rec.roster.version,
        items: rec.roster.items.map(itemToWire),
        pendingIn: rec.pendingIn.map((p) => ({ ...p })),
        blocked: [...rec.blocked],
      };
      return { roster };
    });
  }

  // --- writes -----------------------------------------------------------

  async #kickSession(shard: number, k: admin.KickSession): Promise<admin.KickAnswer> {
    const bare = bareOf(k.fullJid);
    const epoch = this.#owned(shard, [bare]);
    return this.#inQueue(bare, shard, epoch, async () => {
      const record = this.deps.ctx.registry.sessionsOf(bare).find((s) => s.fullJid === k.fullJid);
      if (record === undefined) throw notFound('session', k.fullJid);
      await this.#kick(record, k.text, 'kicked');
      return { sessionId: record.sessionId };
    });
  }

  /**
   * The node holding the socket ends the stream (it alone can, so no client
   * keeps a session the cluster announced gone); then the owner announces
   * unavailable at once with cause KICKED, and the node's own 'ended' event
   * later finds nothing left to do. A node that does not answer may be
   * partitioned with its client still connected: refuse rather than announce.
   */
  async #kick(record: SessionRecord, text: string, reason: FenceReason): Promise<void> {
    // 'deleted': the node answers a XEP-0077 removal the session asked for before ending it (an older node: policy-violation).
    const condition = reason === 'deleted' ? 'deleted' : '';
    const req: admin.NodeKickRequest = { sessionId: record.sessionId, fullJid: record.fullJid, incarnation: record.incarnation, text, condition, everySessionOfUser: false };
    let found: boolean;
    try {
      const reply = await this.deps.nc.request(this.deps.subjects.nodeKick(record.nodeId), admin.NodeKickRequest.encode(req).finish(), {
        timeout: this.deps.kickTimeoutMs,
      });
      found = admin.NodeKickResponse.decode(reply.data).found;
    } catch (e) {
      this.deps.ctx.log.warn('kick not confirmed by the node', { session: record.sessionId, node: record.nodeId, err: e });
      throw new AdminFailure(Code.ADMIN_ERROR_CODE_UNAVAILABLE, `node ${record.nodeId} did not confirm the kick; if it is gone its lease ends the session`);
    }
    // Before the end: what the session sent before it and waits behind us in the user's queue must not bring it back.
    this.deps.fence.fence(record.sessionId, reason);
    await this.deps.presence.end(record, KICKED, found ? 'kicked by an administrator' : 'kicked; its node no longer held it');
  }

  async #rosterEdit(shard: number, e: admin.RosterEdit): Promise<admin.RosterEditAnswer> {
    const user = e.bareJid;
    const epoch = this.#owned(shard, [user]);
    await this.#mustExist(user, epoch);
    return this.#inQueue(user, shard, epoch, async () => {
      const item = e.remove
        ? el('item', { jid: e.contactJid, subscription: 'remove' })
        : el('item', { jid: e.contactJid, name: e.name === '' ? undefined : e.name }, ...e.groups.map((g) => el('group', {}, g)));
      await this.#rosterSet(user, item);
      if (!e.remove) {
        // The stanzas the user's client would send (RFC 6121 §3.1.2, §3.1.5), through the same state machine.
        if (e.requestSubscription) await this.#subscription(user, e.contactJid, 'subscribe');
        if (e.approveSubscription) await this.#subscription(user, e.contactJid, 'subscribed');
      }
      const rec = await this.deps.ctx.records.get(localpartOf(user));
      const after = findItem(rec.roster, e.contactJid);
      return { item: after === undefined || e.remove ? undefined : itemToWire(after), version: rec.roster.version };
    });
  }

  /**
   * Account deletion, in an order that a retry can finish: sessions end
   * first (their unavailable goes out while the roster still names the
   * contacts), then every item is removed as a roster removal would (§2.5.2),
   * pending requests are declined, the records cleared, and the account goes
   * last, so a failure part-way leaves an account that DeleteAccount can
   * still be called for. The sessions are those the registry knows, kicked
   * one by one, and then every other stream of the user on any live node
   * (#endEverywhere): a session that never sent presence is not in the
   * registry, and must not outlive its account. All of them are fenced, so
   * what they sent before their end and waits behind the deletion in the
   * user's queue (a presence, a roster set) is dropped instead of bringing
   * the user back.
   */
  async #removeAccount(shard: number, user: string): Promise<admin.AccountRemovalAnswer> {
    const epoch = this.#owned(shard, [user]);
    await this.#mustExist(user, epoch);
    const local = localpartOf(user);
    return this.#inQueue(user, shard, epoch, async () => {
      // #endEverywhere asks the nodes this replica knows of: it waits, before anything is done, until it knows them all
      // (at most a node lease, only just after the replica started or reconnected), and refuses if it still does not.
      const wait = this.deps.nodesAllKnownInMs();
      if (wait > 0) {
        // A millisecond more: a timer may fire a fraction of one early by the monotonic clock.
        await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait) + 1));
        // The shard may have changed hands meanwhile: nothing is done on one that is not ours at this epoch.
        if (this.deps.epochOf(shard) !== epoch) throw notOwned(shard);
      }
      if (this.deps.nodesAllKnownInMs() > 0) {
        throw new AdminFailure(Code.ADMIN_ERROR_CODE_UNAVAILABLE, 'this replica has not yet heard every connection node since it started or reconnected; retry');
      }
      const sessions = this.deps.ctx.registry.sessionsOf(user);
      for (const s of sessions) await this.#kick(s, 'account deleted', 'deleted');
      const unknown = await this.#endEverywhere(user, 'account deleted');
      const rec = await this.deps.ctx.records.get(local);
      for (const item of rec.roster.items) await this.#rosterSet(user, el('item', { jid: item.jid, subscription: 'remove' }));
      for (const p of rec.pendingIn) await this.#subscription(user, p.fromBareJid, 'unsubscribed');
      await this.deps.ctx.records.update(local, (r) => (r.blocked.length === 0 && r.pendingIn.length === 0 ? undefined : { ...r, blocked: [], pendingIn: [] }));
      // The kicks above noted the sessions' ends: drop them first, or their write could come after the removal.
      await this.deps.presence.forgetLastSeen(user);
      await this.deps.ctx.lastSeen.remove(local);
      this.#deletions++;
      await this.deps.accounts.delete(local);
      this.#known.forget(user);
      this.#deletions++;
      const sessionsEnded = sessions.length + unknown;
      this.deps.ctx.log.info('account deleted', { user, sessions: sessionsEnded, items: rec.roster.items.length });
      return { sessionsEnded, itemsRemoved: rec.roster.items.length };
    });
  }

  /**
   * Asks every live connection node to end all of the user's streams and
   * fences the sessions they ended; how many there were. A node that does
   * not answer may hold one of them, connected: the deletion stops there
   * (UNAVAILABLE) with the account still in place, to be retried.
   */
  async #endEverywhere(user: string, text: string): Promise<number> {
    // First: a bind that reaches a node after its answer is refused by the owner (SessionFence.userDeleted).
    this.deps.fence.userDeleted(user);
    const req: admin.NodeKickRequest = { sessionId: '', fullJid: user, incarnation: '', text, condition: '', everySessionOfUser: true };
    const data = admin.NodeKickRequest.encode(req).finish();
    const nodes = this.deps.liveNodes();
    const answers = await Promise.allSettled(
      nodes.map(async (node) => {
        const reply = await this.deps.nc.request(this.deps.subjects.nodeKick(node), data, { timeout: this.deps.kickTimeoutMs });
        return admin.NodeKickResponse.decode(reply.data).endedSessionIds;
      }),
    );
    let ended = 0;
    const silent: string[] = [];
    for (const [i, a] of answers.entries()) {
      if (a.status === 'rejected') {
        this.deps.ctx.log.warn('node did not confirm ending the deleted account\'s sessions', { user, node: nodes[i], err: a.reason });
        silent.push(nodes[i] ?? '');
        continue;
      }
      for (const id of a.value) this.deps.fence.fence(id, 'deleted');
      ended += a.value.length;
    }
    if (silent.length > 0) {
      throw new AdminFailure(Code.ADMIN_ERROR_CODE_UNAVAILABLE, `node ${silent.join(', ')} did not confirm ending ${user}'s sessions; the account is not deleted yet, retry`);
    }
    return ended;
  }

  /** A roster set on the user's behalf, through IqCore exactly as the user's own client would send it. */
  async #rosterSet(user: string, item: Element): Promise<void> {
    const iq = el('iq', { type: 'set', id: `admin-${randomBytes(6).toString('hex')}`, from: user }, el('query', { xmlns: NS.roster }, item));
    const res = await this.deps.iqs.handle({ session: { sessionId: 'admin', fullJid: user, nodeId: '', incarnation: '' }, stanzaXml: iq.toString() });
    const reply = parseStanza(res.stanzaXml);
    if (reply.attr('type') === 'error') throw fromStanzaError(reply, item.attr('jid') ?? '');
  }

  async #subscription(user: string, contact: string, type: 'subscribe' | 'subscribed' | 'unsubscribed'): Promise<void> {
    await this.deps.subscriptions.outbound(user, contact, type, `<presence from='${escapeAttr(user)}' type='${type}'/>`);
  }

  // --- helpers ------------------------------------------------------------

  /** The epoch at which the shard is ours; every JID must belong to it. */
  #owned(shard: number, bareJids: readonly string[]): number {
    const epoch = this.deps.epochOf(shard);
    if (epoch === undefined) throw notOwned(shard);
    for (const [i, j] of bareJids.entries()) {
      if (shardOf(j, this.deps.ctx.config.shardCount) !== shard) {
        throw new AdminFailure(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, `${j} is not in shard ${shard}`, { field: `jids[${i}]` });
      }
    }
    return epoch;
  }

  /** Whether the account exists, from KnownAccounts when this owner saw it under `epoch`, else from the store. */
  async #exists(bare: string, epoch: number): Promise<boolean> {
    if (!bare.endsWith(`@${this.deps.ctx.config.domain}`)) return false;
    if (this.#known.has(bare, epoch)) return true;
    const deletions = this.#deletions;
    const exists = await this.deps.accounts.exists(localpartOf(bare));
    if (exists && deletions === this.#deletions) this.#known.add(bare, epoch);
    return exists;
  }

  async #mustExist(bare: string, epoch: number): Promise<void> {
    if (!(await this.#exists(bare, epoch))) throw notFound('account', bare);
  }

  /** Runs `task` in the user's queue and hands back its result or error; refuses if the shard changed owner meanwhile. */
  #inQueue<T>(bare: string, shard: number, epoch: number, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      void this.deps.ctx.queue.run(bare, async () => {
        try {
          if (this.deps.epochOf(shard) !== epoch) throw notOwned(shard);
          resolve(await task());
        } catch (e) {
          reject(e);
        }
      });
    });
  }
}

function notOwned(shard: number): AdminFailure {
  return new AdminFailure(Code.ADMIN_ERROR_CODE_UNAVAILABLE, `shard ${shard} is changing owner; retry`);
}

function sessionInfo(s: SessionRecord): admin.SessionInfo {
  return {
    session: { sessionId: s.sessionId, fullJid: s.fullJid, nodeId: s.nodeId, incarnation: s.incarnation },
    available: s.available,
    presenceXml: s.presenceXml,
    priority: s.priority,
    availableSinceUnixMs: s.availableSinceUnixMs,
    directedTo: [...s.directedTo],
  };
}

function failure(e: AdminFailure): admin.AdminResponse {
  return {
    result: {
      $case: 'error',
      error: { code: e.code, message: e.message, field: e.detail.field ?? '', resourceType: e.detail.resourceType ?? '', resourceName: e.detail.resourceName ?? '' },
    },
  };
}

function encodeFailure(e: AdminFailure): Uint8Array {
  return admin.AdminResponse.encode(failure(e)).finish();
}

/** A roster set's stanza error as the API names it: which field, which code. */
function fromStanzaError(reply: Element, contact: string): AdminFailure {
  const error = reply.getChild('error');
  const condition = error?.getChildElements().find((c) => c.name !== 'text')?.name ?? 'undefined-condition';
  const text = error?.getChildText('text') ?? condition;
  switch (condition) {
    case 'item-not-found':
      return notFound('roster item', contact, text);
    case 'policy-violation':
      return new AdminFailure(Code.ADMIN_ERROR_CODE_RESOURCE_EXHAUSTED, text);
    case 'bad-request':
    case 'jid-malformed':
    case 'not-acceptable':
    case 'not-allowed': {
      const field = /\bgroup/.test(text) ? 'groups' : /\bname\b/.test(text) ? 'name' : 'contact_jid';
      return new AdminFailure(Code.ADMIN_ERROR_CODE_INVALID_ARGUMENT, text, { field });
    }
    default:
      return new AdminFailure(Code.ADMIN_ERROR_CODE_FAILED_PRECONDITION, `${condition}: ${text}`);
  }
}
