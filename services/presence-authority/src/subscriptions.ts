import { cluster } from '@vigil/proto';
import type { Logger } from '@vigil/telemetry';
import {
  bareOf, findItem, inbound, isBlocked, outbound, isSubscriber, isSubscribedTo,
  type RosterItem, type SubscriptionStanza, type SubscriptionState,
} from '@vigil/roster';
import type { RosterRecord } from '@vigil/store';
import { escapeAttr } from '@vigil/xmpp';
import type { AuthorityContext } from './context.js';
import type { PresenceCore } from './presence.js';
import { rosterPush } from './roster-xml.js';
import { localpartOf } from './stanza-text.js';

const SUBSCRIPTION_TYPES = new Set<string>(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

export function isSubscriptionType(t: string): t is SubscriptionStanza {
  return SUBSCRIPTION_TYPES.has(t);
}

/** The user's view of one contact, as Appendix A's state machine sees it. */
export function stateOf(rec: RosterRecord, contact: string): SubscriptionState {
  const item = findItem(rec.roster, contact);
  return {
    subscription: item?.subscription ?? 'none',
    pendingOut: item?.pendingOut ?? false,
    pendingIn: rec.pendingIn.some((p) => p.fromBareJid === contact),
    approved: item?.approved ?? false,
  };
}

/**
 * Writes a new state for one contact into the record. An item is created only
 * when the state needs one (pending-in alone lives outside the roster, §3.1.3);
 * the roster version moves only when the item visibly changed (§2.6).
 */
export function withState(rec: RosterRecord, contact: string, next: SubscriptionState, pendingStanza: string, nowMs: number): RosterRecord {
  const item = findItem(rec.roster, contact);
  const needsItem = item !== undefined || next.subscription !== 'none' || next.pendingOut || next.approved;
  let items = rec.roster.items;
  let version = rec.roster.version;
  if (needsItem) {
    const updated: RosterItem = {
      jid: contact,
      name: item?.name ?? '',
      groups: item?.groups ?? [],
      subscription: next.subscription,
      pendingOut: next.pendingOut,
      approved: next.approved,
    };
    if (!item || !sameItem(item, updated)) {
      items = item ? items.map((i) => (i.jid === contact ? updated : i)) : [...items, updated];
      version += 1;
    }
  }
  const hadPending = rec.pendingIn.some((p) => p.fromBareJid === contact);
  let pendingIn = rec.pendingIn;
  if (next.pendingIn && !hadPending) pendingIn = [...pendingIn, { fromBareJid: contact, stanzaXml: pendingStanza, receivedAtUnixMs: nowMs }];
  if (!next.pendingIn && hadPending) pendingIn = pendingIn.filter((p) => p.fromBareJid !== contact);
  if (items === rec.roster.items && pendingIn === rec.pendingIn) return rec;
  return { ...rec, roster: { version, items }, pendingIn };
}

function sameItem(a: RosterItem, b: RosterItem): boolean {
  return a.subscription === b.subscription && a.pendingOut === b.pendingOut && (a.approved ?? false) === (b.approved ?? false);
}

function presenceOfType(from: string, to: string, type: SubscriptionStanza): string {
  return `<presence from='${escapeAttr(from)}' to='${escapeAttr(to)}' type='${type}'/>`;
}

/**
 * RFC 6121 §3: subscription stanzas through both servers' halves of Appendix
 * A. The user's owner runs `outbound` on the user's record and routes the
 * stanza; the contact's owner runs `inbound` on the contact's record.
 */
export class SubscriptionCore {
  constructor(
    private readonly ctx: AuthorityContext,
    private readonly presence: PresenceCore,
    private readonly accountExists: (localpart: string) => Promise<boolean>,
  ) {}

  /** The user sent `type` about `contact` (A.2). Runs in the user's queue. */
  async outbound(user: string, contact: string, type: SubscriptionStanza, stanzaXml: string): Promise<void> {
    let before: SubscriptionState | undefined;
    let decision: ReturnType<typeof outbound> | undefined;
    const rec = await this.ctx.records.update(localpartOf(user), (r) => {
      before = stateOf(r, contact);
      decision = outbound(before, type);
      const next = withState(r, contact, decision.state, '', this.ctx.wallNowMs());
      return next === r ? undefined : next;
    });
    if (!before || !decision) return;
    if (decision.push) this.pushItem(user, rec, contact);
    if (decision.route) this.route(user, contact, type, stanzaXml);
    const wasSubscriber = isSubscriber(itemLike(before));
    const isNowSubscriber = isSubscriber(itemLike(decision.state));
    // §3.1.5: approving sends the contact the user's current presence.
    if (!wasSubscriber && isNowSubscriber) await this.presence.sendCurrentPresence(user, contact);
    // §3.2.2: cancelling the contact's subscription sends it the user's unavailable.
    if (wasSubscriber && !isNowSubscriber) await this.presence.sendUnavailable(user, contact);
  }

  /** The contact (`from`) sent `type` to the local user `user` (A.3). Runs in the user's queue. */
  async inbound(user: string, from: string, type: SubscriptionStanza, stanzaXml: string): Promise<void> {
    if (!(await this.accountExists(localpartOf(user)))) {
      // §3.1.3 / §4.3: the same answer as a refusal, so accounts cannot be enumerated.
      if (type === 'subscribe') this.route(user, from, 'unsubscribed', presenceOfType(user, from, 'unsubscribed'));
      return;
    }
    // XEP-0191: nothing from a blocked entity is delivered or answered. A request is dropped outright;
    // answers and cancellations still update the roster, silently, so both sides keep agreeing.
    const blocked = isBlocked(new Set((await this.ctx.records.get(localpartOf(user))).blocked), from);
    if (blocked && type === 'subscribe') return;
    let before: SubscriptionState | undefined;
    let decision: ReturnType<typeof inbound> | undefined;
    const rec = await this.ctx.records.update(localpartOf(user), (r) => {
      before = stateOf(r, from);
      decision = inbound(before, type);
      const next = withState(r, from, decision.state, stanzaXml, this.ctx.wallNowMs());
      return next === r ? undefined : next;
    });
    if (!before || !decision) return;
    if (decision.push) this.pushItem(user, rec, from);
    if (blocked) return;
    if (decision.deliver) this.ctx.outbox.deliver(user, stanzaXml, from);
    if (decision.autoReply) this.route(user, from, decision.autoReply, presenceOfType(user, from, decision.autoReply));
    if (decision.autoReply === 'subscribed') await this.presence.sendCurrentPresence(user, from);
    // §3.3.3: the contact no longer wants the user's presence: it sees the user go offline.
    if (type === 'unsubscribe' && isSubscriber(itemLike(before)) && !isSubscriber(itemLike(decision.state))) {
      await this.presence.sendUnavailable(user, from);
    }
    // §3.2.3: the user's subscription to the contact was cancelled: show the contact as offline.
    if (type === 'unsubscribed' && isSubscribedTo(itemLike(before)) && !isSubscribedTo(itemLike(decision.state))) {
      for (const s of this.ctx.registry.sessionsOf(user)) {
        if (s.available) this.ctx.outbox.deliver(s.fullJid, `<presence from='${escapeAttr(from)}' type='unavailable'/>`, from);
      }
    }
  }

  /** Forwards a subscription stanza to the owner of the contact's shard. */
  route(from: string, to: string, type: SubscriptionStanza, stanzaXml: string): void {
    this.ctx.outbox.inbound({
      fromJid: from, toJid: to, kind: cluster.InboundKind.INBOUND_KIND_SUBSCRIPTION, type, stanzaXml: stripTo(stanzaXml), fromShard: 0, fromEpoch: 0,
    });
  }

  pushItem(user: string, rec: RosterRecord, contact: string): void {
    const item = findItem(rec.roster, contact);
    const xml = item ? rosterPush(item, rec.roster.version) : rosterPush({ jid: contact, removed: true }, rec.roster.version);
    this.ctx.outbox.push(user, xml, cluster.DeliveryKind.DELIVERY_KIND_ROSTER_PUSH);
  }
}

function itemLike(s: SubscriptionState): RosterItem {
  return { jid: '', name: '', groups: [], subscription: s.subscription, pendingOut: s.pendingOut };
}

/** Stanzas on the bus carry no 'to'; the delivering side adds it. */
function stripTo(xml: string): string {
  return xml.replace(/^(<presence[^>]*?) to='[^']*'/, '$1');
}

/** An inbound stanza for a user of an owned shard; runs in that user's queue. */
export async function handleInbound(msg: cluster.InboundStanza, subscriptions: SubscriptionCore, presence: PresenceCore, log: Logger): Promise<void> {
  const to = bareOf(msg.toJid);
  switch (msg.kind) {
    case cluster.InboundKind.INBOUND_KIND_SUBSCRIPTION:
      if (!isSubscriptionType(msg.type)) throw new TypeError(`not a subscription type: ${msg.type}`);
      return subscriptions.inbound(to, bareOf(msg.fromJid), msg.type, msg.stanzaXml);
    case cluster.InboundKind.INBOUND_KIND_PRESENCE_ERROR:
      return presence.presenceError(msg.fromJid, msg.toJid);
    default:
      log.warn('inbound stanza of unknown kind dropped', { kind: msg.kind });
  }
}
