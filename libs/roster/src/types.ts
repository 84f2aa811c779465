/** RFC 6121 §2.1.2.5: the subscription state of a roster item. */
export type Subscription = 'none' | 'to' | 'from' | 'both';

export interface RosterItem {
  /** The contact's bare JID, normalized. */
  readonly jid: string;
  readonly name: string;
  readonly subscription: Subscription;
  /** ask='subscribe' (RFC 6121 §2.1.2.2). */
  readonly pendingOut: boolean;
  readonly groups: readonly string[];
  /** The user pre-approved this contact's subscription (RFC 6121 §3.4); absent means false. */
  readonly approved?: boolean;
}

export interface Roster {
  /** RFC 6121 §2.6: increases with every change. */
  readonly version: number;
  readonly items: readonly RosterItem[];
}

export const EMPTY_ROSTER: Roster = { version: 0, items: [] };

/** The contact sees the user's presence: subscription 'from' or 'both'. */
export function isSubscriber(item: RosterItem | undefined): boolean {
  return item !== undefined && (item.subscription === 'from' || item.subscription === 'both');
}

/** The user sees the contact's presence: subscription 'to' or 'both'. */
export function isSubscribedTo(item: RosterItem | undefined): boolean {
  return item !== undefined && (item.subscription === 'to' || item.subscription === 'both');
}

export function findItem(roster: Roster, bareJid: string): RosterItem | undefined {
  return roster.items.find((i) => i.jid === bareJid);
}
