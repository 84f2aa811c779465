import type { Subscription } from './types.js';

/**
 * The subscription state of one contact, from the user's side (RFC 6121
 * Appendix A.1): the nine defined states plus the pre-approval flag of §3.4.
 * `pendingIn` is server-side only: no roster attribute shows it (§3.1.3,
 * A.1 item 3), so it never causes a roster push by itself.
 */
export interface SubscriptionState {
  readonly subscription: Subscription;
  /** ask='subscribe' (§2.1.2.2). */
  readonly pendingOut: boolean;
  /** The contact asked for the user's presence and the user has not answered. */
  readonly pendingIn: boolean;
  /** approved='true' (§2.1.2.1, §3.4). */
  readonly approved: boolean;
}

/** A.1: "None" also stands for a contact that is not in the roster at all. */
export const NO_SUBSCRIPTION: SubscriptionState = Object.freeze({
  subscription: 'none',
  pendingOut: false,
  pendingIn: false,
  approved: false,
});

/** The nine names of RFC 6121 Appendix A.1, spelled as RFC 6121 spells them. */
export type AppendixAStateName =
  | 'None'
  | 'None + Pending Out'
  | 'None + Pending In'
  | 'None + Pending Out+In'
  | 'To'
  | 'To + Pending In'
  | 'From'
  | 'From + Pending Out'
  | 'Both';

export const PRE_APPROVED_SUFFIX = ' (pre-approved)';

export type SubscriptionStateName = AppendixAStateName | `${AppendixAStateName}${typeof PRE_APPROVED_SUFFIX}`;

const hasTo = (s: Subscription): boolean => s === 'to' || s === 'both';
const hasFrom = (s: Subscription): boolean => s === 'from' || s === 'both';

/**
 * Drops the flags that cannot hold in the given subscription, so that every
 * state is one of the twelve that Appendix A plus §3.4 can reach:
 *  - Pending Out only while the user is not yet subscribed to the contact
 *    (A.1 defines no "To + Pending Out" or "Both + Pending Out");
 *  - Pending In only while the contact is not yet subscribed to the user;
 *  - approved only in "None", "None + Pending Out" and "To" — the states in
 *    which §3.4.2 rule 3 records a pre-approval. Vigil does not keep the
 *    flag once it has been used (the §3.4 implementation note leaves this
 *    to local policy): a contact that later unsubscribes must ask again.
 */
export function canonicalState(s: SubscriptionState): SubscriptionState {
  const pendingOut = s.pendingOut && !hasTo(s.subscription);
  const pendingIn = s.pendingIn && !hasFrom(s.subscription);
  const approved = s.approved && !hasFrom(s.subscription) && !pendingIn;
  if (pendingOut === s.pendingOut && pendingIn === s.pendingIn && approved === s.approved) return s;
  return { subscription: s.subscription, pendingOut, pendingIn, approved };
}

/** The Appendix A name of the state's canonical form, " (pre-approved)" appended when approved. */
export function stateName(s: SubscriptionState): SubscriptionStateName {
  const c = canonicalState(s);
  const base = baseName(c);
  return c.approved ? `${base}${PRE_APPROVED_SUFFIX}` : base;
}

function baseName(s: SubscriptionState): AppendixAStateName {
  switch (s.subscription) {
    case 'none':
      if (s.pendingOut && s.pendingIn) return 'None + Pending Out+In';
      if (s.pendingOut) return 'None + Pending Out';
      return s.pendingIn ? 'None + Pending In' : 'None';
    case 'to':
      return s.pendingIn ? 'To + Pending In' : 'To';
    case 'from':
      return s.pendingOut ? 'From + Pending Out' : 'From';
    case 'both':
      return 'Both';
  }
}

const state = (subscription: Subscription, pendingOut: boolean, pendingIn: boolean, approved = false): SubscriptionState =>
  Object.freeze({ subscription, pendingOut, pendingIn, approved });

/** The nine states of A.1 in the RFC's order, then the three that can carry a pre-approval (§3.4.2). */
export const ALL_STATES: readonly SubscriptionState[] = Object.freeze([
  state('none', false, false),
  state('none', true, false),
  state('none', false, true),
  state('none', true, true),
  state('to', false, false),
  state('to', false, true),
  state('from', false, false),
  state('from', true, false),
  state('both', false, false),
  state('none', false, false, true),
  state('none', true, false, true),
  state('to', false, false, true),
]);

const BY_NAME: ReadonlyMap<string, SubscriptionState> = new Map(ALL_STATES.map((s) => [stateName(s), s]));

/** The state a name stands for; undefined for anything that is not one of the twelve names. */
export function stateFromName(name: string): SubscriptionState | undefined {
  return BY_NAME.get(name);
}

/**
 * Whether the roster item a client sees differs between two states: the
 * 'subscription', 'ask' and 'approved' attributes. A roster push is owed
 * exactly when this is true (RFC 6121 §2.6.3 "roster modification", §12
 * "roster-push": whenever the roster information materially changes).
 */
export function rosterItemChanged(before: SubscriptionState, after: SubscriptionState): boolean {
  const a = canonicalState(before);
  const b = canonicalState(after);
  return a.subscription !== b.subscription || a.pendingOut !== b.pendingOut || a.approved !== b.approved;
}

/** The contact may see the user's presence (subscription 'from' or 'both'). */
export function contactIsSubscriber(s: SubscriptionState): boolean {
  return hasFrom(s.subscription);
}

/** The user may see the contact's presence (subscription 'to' or 'both'). */
export function userIsSubscribed(s: SubscriptionState): boolean {
  return hasTo(s.subscription);
}
