/**
 * RFC 6121 Appendix A as data: how the user's server treats the four
 * subscription stanzas, outbound (A.2: the user sent it about a contact) and
 * inbound (A.3: the contact sent it to the user). The functions below only
 * look rows up, so behaviour cannot drift from the tables; the tests walk
 * every row.
 *
 * Each table holds the 36 rows of Appendix A (9 states × 4 stanzas, "no
 * state change" rows included, with `to` equal to `from`) followed by 12
 * rows for the three pre-approved states of §3.4, which Vigil supports
 * (it advertises urn:xmpp:features:pre-approval).
 *
 * `push` is true exactly when the roster item a client sees changes
 * ('subscription', 'ask' or 'approved'; see rosterItemChanged). A change of
 * Pending In alone pushes nothing: no attribute shows it, and §3.1.3 forbids
 * adding a roster item for a contact whose request is still unanswered.
 */
import {
  canonicalState, contactIsSubscriber, stateFromName, stateName,
  type SubscriptionState, type SubscriptionStateName,
} from './subscription-state.js';

export {
  NO_SUBSCRIPTION, canonicalState, stateName, stateFromName, rosterItemChanged, ALL_STATES,
  type SubscriptionState, type SubscriptionStateName, type AppendixAStateName,
} from './subscription-state.js';

export type SubscriptionStanza = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

export const SUBSCRIPTION_STANZAS: readonly SubscriptionStanza[] = Object.freeze([
  'subscribe', 'unsubscribe', 'subscribed', 'unsubscribed',
] as const);

export interface OutboundDecision {
  readonly state: SubscriptionState;
  /** Forward the stanza (stamped with the user's bare JID, §3) to the contact's server. */
  readonly route: boolean;
  /** Roster push of the new item to the user's interested resources (§2.2). */
  readonly push: boolean;
}

export interface InboundDecision {
  readonly state: SubscriptionState;
  /** Deliver the stanza to the user's resources; for 'subscribe' this is the request awaiting approval. */
  readonly deliver: boolean;
  readonly push: boolean;
  /**
   * The server answers the contact on the user's behalf. 'subscribed': the
   * contact is already a subscriber (§3.1.3 rule 2, A.3.1 note 2) or was
   * pre-approved (§3.4.2, A.3.1 note 1). 'unsubscribed': A.3.2 note 1, the
   * SHOULD-level acknowledgement of an unsubscribe that changed the state.
   */
  readonly autoReply?: 'subscribed' | 'unsubscribed';
}

export interface OutboundRow {
  readonly from: SubscriptionStateName;
  readonly stanza: SubscriptionStanza;
  readonly to: SubscriptionStateName;
  readonly route: boolean;
  readonly push: boolean;
}

export interface InboundRow {
  readonly from: SubscriptionStateName;
  readonly stanza: SubscriptionStanza;
  readonly to: SubscriptionStateName;
  readonly deliver: boolean;
  readonly push: boolean;
  readonly autoReply?: 'subscribed' | 'unsubscribed';
}

const PA = ' (pre-approved)' as const;

// A.2. "S.N." (SHOULD NOT) and "M.N." (MUST NOT) route are both `route: false`.
export const OUTBOUND_TABLE: readonly OutboundRow[] = Object.freeze([
  // A.2.1 subscribe: always routed; "pending out" sets ask='subscribe'.
  { from: 'None', stanza: 'subscribe', to: 'None + Pending Out', route: true, push: true },
  { from: 'None + Pending Out', stanza: 'subscribe', to: 'None + Pending Out', route: true, push: false },
  { from: 'None + Pending In', stanza: 'subscribe', to: 'None + Pending Out+In', route: true, push: true },
  { from: 'None + Pending Out+In', stanza: 'subscribe', to: 'None + Pending Out+In', route: true, push: false },
  { from: 'To', stanza: 'subscribe', to: 'To', route: true, push: false },
  { from: 'To + Pending In', stanza: 'subscribe', to: 'To + Pending In', route: true, push: false },
  { from: 'From', stanza: 'subscribe', to: 'From + Pending Out', route: true, push: true },
  { from: 'From + Pending Out', stanza: 'subscribe', to: 'From + Pending Out', route: true, push: false },
  { from: 'Both', stanza: 'subscribe', to: 'Both', route: true, push: false },
  // A.2.2 unsubscribe: always routed.
  { from: 'None', stanza: 'unsubscribe', to: 'None', route: true, push: false },
  { from: 'None + Pending Out', stanza: 'unsubscribe', to: 'None', route: true, push: true },
  { from: 'None + Pending In', stanza: 'unsubscribe', to: 'None + Pending In', route: true, push: false },
  { from: 'None + Pending Out+In', stanza: 'unsubscribe', to: 'None + Pending In', route: true, push: true },
  { from: 'To', stanza: 'unsubscribe', to: 'None', route: true, push: true },
  { from: 'To + Pending In', stanza: 'unsubscribe', to: 'None + Pending In', route: true, push: true },
  { from: 'From', stanza: 'unsubscribe', to: 'From', route: true, push: false },
  { from: 'From + Pending Out', stanza: 'unsubscribe', to: 'From', route: true, push: true },
  { from: 'Both', stanza: 'unsubscribe', to: 'From', route: true, push: true },
  // A.2.3 subscribed. Without a pending request it is a pre-approval (§3.4.2
  // rule 3): approved='true' is recorded and pushed, the stanza MUST NOT be routed.
  { from: 'None', stanza: 'subscribed', to: `None${PA}`, route: false, push: true },
  { from: 'None + Pending Out', stanza: 'subscribed', to: `None + Pending Out${PA}`, route: false, push: true },
  { from: 'None + Pending In', stanza: 'subscribed', to: 'From', route: true, push: true },
  { from: 'None + Pending Out+In', stanza: 'subscribed', to: 'From + Pending Out', route: true, push: true },
  { from: 'To', stanza: 'subscribed', to: `To${PA}`, route: false, push: true },
  { from: 'To + Pending In', stanza: 'subscribed', to: 'Both', route: true, push: true },
  // §3.4.2 rule 1: already a subscriber, silently ignored.
  { from: 'From', stanza: 'subscribed', to: 'From', route: false, push: false },
  { from: 'From + Pending Out', stanza: 'subscribed', to: 'From + Pending Out', route: false, push: false },
  { from: 'Both', stanza: 'subscribed', to: 'Both', route: false, push: false },
  // A.2.4 unsubscribed. §3.2.2 rule 1: no subscription and nothing pending, so
  // nothing to deny or cancel: SHOULD NOT route.
  { from: 'None', stanza: 'unsubscribed', to: 'None', route: false, push: false },
  { from: 'None + Pending Out', stanza: 'unsubscribed', to: 'None + Pending Out', route: false, push: false },
  // Denying a request only clears Pending In, which no roster attribute shows.
  { from: 'None + Pending In', stanza: 'unsubscribed', to: 'None', route: true, push: false },
  { from: 'None + Pending Out+In', stanza: 'unsubscribed', to: 'None + Pending Out', route: true, push: false },
  { from: 'To', stanza: 'unsubscribed', to: 'To', route: false, push: false },
  { from: 'To + Pending In', stanza: 'unsubscribed', to: 'To', route: true, push: false },
  // §3.2.2 rule 3: cancelling a granted subscription; the caller sends
  // unavailable from every available resource before routing (see subscriberChange).
  { from: 'From', stanza: 'unsubscribed', to: 'None', route: true, push: true },
  { from: 'From + Pending Out', stanza: 'unsubscribed', to: 'None + Pending Out', route: true, push: true },
  { from: 'Both', stanza: 'unsubscribed', to: 'To', route: true, push: true },

  // §3.4: the pre-approved states. Asking for or dropping the contact's
  // presence leaves the pre-approval alone; it concerns the other direction.
  { from: `None${PA}`, stanza: 'subscribe', to: `None + Pending Out${PA}`, route: true, push: true },
  { from: `None + Pending Out${PA}`, stanza: 'subscribe', to: `None + Pending Out${PA}`, route: true, push: false },
  { from: `To${PA}`, stanza: 'subscribe', to: `To${PA}`, route: true, push: false },
  { from: `None${PA}`, stanza: 'unsubscribe', to: `None${PA}`, route: true, push: false },
  { from: `None + Pending Out${PA}`, stanza: 'unsubscribe', to: `None${PA}`, route: true, push: true },
  { from: `To${PA}`, stanza: 'unsubscribe', to: `None${PA}`, route: true, push: true },
  // Pre-approving twice changes nothing.
  { from: `None${PA}`, stanza: 'subscribed', to: `None${PA}`, route: false, push: false },
  { from: `None + Pending Out${PA}`, stanza: 'subscribed', to: `None + Pending Out${PA}`, route: false, push: false },
  { from: `To${PA}`, stanza: 'subscribed', to: `To${PA}`, route: false, push: false },
  // §3.2.2 rule 2 (A.2.4 note 1): unsubscribed cancels the pre-approval, MUST
  // NOT be routed; the §3.4 implementation note pushes the item without 'approved'.
  { from: `None${PA}`, stanza: 'unsubscribed', to: 'None', route: false, push: true },
  { from: `None + Pending Out${PA}`, stanza: 'unsubscribed', to: 'None + Pending Out', route: false, push: true },
  { from: `To${PA}`, stanza: 'unsubscribed', to: 'To', route: false, push: true },
] satisfies OutboundRow[]);

// A.3. "S.N." (SHOULD NOT) deliver is `deliver: false`.
export const INBOUND_TABLE: readonly InboundRow[] = Object.freeze([
  // A.3.1 subscribe. The request is delivered for approval; no roster item is
  // created or pushed for it (§3.1.3 security warning).
  { from: 'None', stanza: 'subscribe', to: 'None + Pending In', deliver: true, push: false },
  { from: 'None + Pending Out', stanza: 'subscribe', to: 'None + Pending Out+In', deliver: true, push: false },
  // Already pending: not delivered again now; §3.1.3 rule 4 keeps one stored
  // request and redelivers it when the user next becomes available.
  { from: 'None + Pending In', stanza: 'subscribe', to: 'None + Pending In', deliver: false, push: false },
  { from: 'None + Pending Out+In', stanza: 'subscribe', to: 'None + Pending Out+In', deliver: false, push: false },
  { from: 'To', stanza: 'subscribe', to: 'To + Pending In', deliver: true, push: false },
  { from: 'To + Pending In', stanza: 'subscribe', to: 'To + Pending In', deliver: false, push: false },
  // A.3.1 note 2, §3.1.3 rule 2: the contact is already a subscriber (it is
  // resynchronising), so the server answers for the user.
  { from: 'From', stanza: 'subscribe', to: 'From', deliver: false, push: false, autoReply: 'subscribed' },
  { from: 'From + Pending Out', stanza: 'subscribe', to: 'From + Pending Out', deliver: false, push: false, autoReply: 'subscribed' },
  { from: 'Both', stanza: 'subscribe', to: 'Both', deliver: false, push: false, autoReply: 'subscribed' },
  // A.3.2 unsubscribe: delivered and acknowledged only when the state changes.
  { from: 'None', stanza: 'unsubscribe', to: 'None', deliver: false, push: false },
  { from: 'None + Pending Out', stanza: 'unsubscribe', to: 'None + Pending Out', deliver: false, push: false },
  // The contact withdrew its request. (§3.3.3 says "silently ignore" here;
  // Appendix A says deliver. We follow the table: the user's clients learn
  // that the request they may be showing is gone.)
  { from: 'None + Pending In', stanza: 'unsubscribe', to: 'None', deliver: true, push: false, autoReply: 'unsubscribed' },
  { from: 'None + Pending Out+In', stanza: 'unsubscribe', to: 'None + Pending Out', deliver: true, push: false, autoReply: 'unsubscribed' },
  { from: 'To', stanza: 'unsubscribe', to: 'To', deliver: false, push: false },
  { from: 'To + Pending In', stanza: 'unsubscribe', to: 'To', deliver: true, push: false, autoReply: 'unsubscribed' },
  // §3.3.3: the contact drops its subscription; the caller then sends
  // unavailable from each available resource to the contact (see subscriberChange).
  { from: 'From', stanza: 'unsubscribe', to: 'None', deliver: true, push: true, autoReply: 'unsubscribed' },
  { from: 'From + Pending Out', stanza: 'unsubscribe', to: 'None + Pending Out', deliver: true, push: true, autoReply: 'unsubscribed' },
  { from: 'Both', stanza: 'unsubscribe', to: 'To', deliver: true, push: true, autoReply: 'unsubscribed' },
  // A.3.3 subscribed: only an answer to our own pending request counts
  // (§3.1.6); anything else is silently ignored.
  { from: 'None', stanza: 'subscribed', to: 'None', deliver: false, push: false },
  { from: 'None + Pending Out', stanza: 'subscribed', to: 'To', deliver: true, push: true },
  { from: 'None + Pending In', stanza: 'subscribed', to: 'None + Pending In', deliver: false, push: false },
  { from: 'None + Pending Out+In', stanza: 'subscribed', to: 'To + Pending In', deliver: true, push: true },
  { from: 'To', stanza: 'subscribed', to: 'To', deliver: false, push: false },
  { from: 'To + Pending In', stanza: 'subscribed', to: 'To + Pending In', deliver: false, push: false },
  { from: 'From', stanza: 'subscribed', to: 'From', deliver: false, push: false },
  { from: 'From + Pending Out', stanza: 'subscribed', to: 'Both', deliver: true, push: true },
  { from: 'Both', stanza: 'subscribed', to: 'Both', deliver: false, push: false },
  // A.3.4 unsubscribed: denies our pending request or cancels our subscription (§3.2.3).
  { from: 'None', stanza: 'unsubscribed', to: 'None', deliver: false, push: false },
  { from: 'None + Pending Out', stanza: 'unsubscribed', to: 'None', deliver: true, push: true },
  { from: 'None + Pending In', stanza: 'unsubscribed', to: 'None + Pending In', deliver: false, push: false },
  { from: 'None + Pending Out+In', stanza: 'unsubscribed', to: 'None + Pending In', deliver: true, push: true },
  { from: 'To', stanza: 'unsubscribed', to: 'None', deliver: true, push: true },
  { from: 'To + Pending In', stanza: 'unsubscribed', to: 'None + Pending In', deliver: true, push: true },
  { from: 'From', stanza: 'unsubscribed', to: 'From', deliver: false, push: false },
  { from: 'From + Pending Out', stanza: 'unsubscribed', to: 'From', deliver: true, push: true },
  { from: 'Both', stanza: 'unsubscribed', to: 'From', deliver: true, push: true },

  // §3.4: pre-approved states. A subscribe is never delivered: the server
  // approves it for the user (A.3.1 note 1) and the flag is spent.
  { from: `None${PA}`, stanza: 'subscribe', to: 'From', deliver: false, push: true, autoReply: 'subscribed' },
  { from: `None + Pending Out${PA}`, stanza: 'subscribe', to: 'From + Pending Out', deliver: false, push: true, autoReply: 'subscribed' },
  { from: `To${PA}`, stanza: 'subscribe', to: 'Both', deliver: false, push: true, autoReply: 'subscribed' },
  // The other three stanzas concern the user's subscription to the contact
  // and leave the pre-approval as it is (cf. §4.3.2 rule 1).
  { from: `None${PA}`, stanza: 'unsubscribe', to: `None${PA}`, deliver: false, push: false },
  { from: `None + Pending Out${PA}`, stanza: 'unsubscribe', to: `None + Pending Out${PA}`, deliver: false, push: false },
  { from: `To${PA}`, stanza: 'unsubscribe', to: `To${PA}`, deliver: false, push: false },
  { from: `None${PA}`, stanza: 'subscribed', to: `None${PA}`, deliver: false, push: false },
  { from: `None + Pending Out${PA}`, stanza: 'subscribed', to: `To${PA}`, deliver: true, push: true },
  { from: `To${PA}`, stanza: 'subscribed', to: `To${PA}`, deliver: false, push: false },
  { from: `None${PA}`, stanza: 'unsubscribed', to: `None${PA}`, deliver: false, push: false },
  { from: `None + Pending Out${PA}`, stanza: 'unsubscribed', to: `None${PA}`, deliver: true, push: true },
  { from: `To${PA}`, stanza: 'unsubscribed', to: `None${PA}`, deliver: true, push: true },
] satisfies InboundRow[]);

const key = (from: string, stanza: SubscriptionStanza): string => `${from}|${stanza}`;

function indexRows<R extends { readonly from: string; readonly stanza: SubscriptionStanza }>(rows: readonly R[]): ReadonlyMap<string, R> {
  const index = new Map<string, R>();
  for (const row of rows) if (!index.has(key(row.from, row.stanza))) index.set(key(row.from, row.stanza), row);
  return index;
}

const OUTBOUND_INDEX = indexRows(OUTBOUND_TABLE);
const INBOUND_INDEX = indexRows(INBOUND_TABLE);

function lookUp<R extends { readonly to: string }>(
  index: ReadonlyMap<string, R>, table: string, state: SubscriptionState, stanza: SubscriptionStanza,
): { row: R; next: SubscriptionState } {
  const from = stateName(canonicalState(state));
  const row = index.get(key(from, stanza));
  const next = row === undefined ? undefined : stateFromName(row.to);
  // Unreachable: the tests prove every canonical state × stanza has one row
  // whose target is a known state.
  if (row === undefined || next === undefined) throw new Error(`${table} has no usable row for ${from} × ${stanza}`);
  return { row, next };
}

/** A.2: the user's server processing a subscription stanza the user sent about this contact. */
export function outbound(state: SubscriptionState, stanza: SubscriptionStanza): OutboundDecision {
  const { row, next } = lookUp(OUTBOUND_INDEX, 'OUTBOUND_TABLE', state, stanza);
  return { state: next, route: row.route, push: row.push };
}

/** A.3: the user's server processing a subscription stanza the contact sent to the user. */
export function inbound(state: SubscriptionState, stanza: SubscriptionStanza): InboundDecision {
  const { row, next } = lookUp(INBOUND_INDEX, 'INBOUND_TABLE', state, stanza);
  const decision = { state: next, deliver: row.deliver, push: row.push };
  return row.autoReply === undefined ? decision : { ...decision, autoReply: row.autoReply };
}

/**
 * What a transition means for the contact's view of the user's presence,
 * the part of subscription handling that can leak or strand presence:
 *  - 'approved': the contact became a subscriber; send it current presence
 *    from each of the user's available resources (§3.1.5);
 *  - 'cancelled': it stopped being one; send it unavailable from each
 *    available resource — before routing the 'unsubscribed' when the user
 *    cancelled (§3.2.2), after the 'unsubscribe' when the contact did (§3.3.3).
 */
export function subscriberChange(before: SubscriptionState, after: SubscriptionState): 'approved' | 'cancelled' | 'unchanged' {
  const was = contactIsSubscriber(before);
  const is = contactIsSubscriber(after);
  if (was === is) return 'unchanged';
  return is ? 'approved' : 'cancelled';
}
