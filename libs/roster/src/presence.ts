import { isSubscribedTo, isSubscriber, type Roster } from './types.js';

/**
 * What one session did with presence, kept for the whole session because the
 * unavailable that ends it depends on it (RFC 6121 §4.5.2, §4.6.3).
 */
export interface SessionPresence {
  readonly fullJid: string;
  readonly available: boolean;
  /** Entities that got directed available presence and no directed unavailable since. */
  readonly directedTo: ReadonlySet<string>;
  /** Contacts (bare JIDs) that answered this session's presence with an error (§4.4.2). */
  readonly presenceErrorsFrom: ReadonlySet<string>;
}

/** Why a recipient receives a presence: kept for logs, tests and the chaos checker. */
export type RecipientReason = 'subscriber' | 'own-resource' | 'directed';

export interface Recipient {
  /** A bare JID for subscribers, a full JID for own resources and directed targets as addressed. */
  readonly jid: string;
  readonly reason: RecipientReason;
}

export interface BroadcastInput {
  readonly roster: Roster;
  readonly session: SessionPresence;
  /** Bare JIDs the user has blocked (XEP-0191); never receive presence. */
  readonly blocked: ReadonlySet<string>;
  /** Full JIDs of the user's other available resources. */
  readonly otherResources: readonly string[];
}

/**
 * Recipients of the user's broadcast presence, available or unavailable
 * (RFC 6121 §4.2.2, §4.4.2, §4.5.2):
 *  - every contact with subscription 'from' or 'both' that the user has not
 *    blocked and that sent no presence error during this session;
 *  - the user's other available resources;
 *  - for unavailable only, every entity that got directed presence from this
 *    session and no directed unavailable since (§4.6.3).
 * Nobody else: a presence to anyone outside this set is a leak.
 */
export function broadcastRecipients(input: BroadcastInput, kind: 'available' | 'unavailable'): Recipient[] {
  const out: Recipient[] = [];
  const seenBare = new Set<string>();
  for (const item of input.roster.items) {
    if (!isSubscriber(item)) continue;
    if (isBlocked(input.blocked, item.jid)) continue;
    if (input.session.presenceErrorsFrom.has(item.jid)) continue;
    seenBare.add(item.jid);
    out.push({ jid: item.jid, reason: 'subscriber' });
  }
  for (const resource of input.otherResources) {
    if (resource !== input.session.fullJid) out.push({ jid: resource, reason: 'own-resource' });
  }
  if (kind === 'unavailable') {
    for (const target of input.session.directedTo) {
      if (seenBare.has(bareOf(target)) || isBlocked(input.blocked, target)) continue;
      out.push({ jid: target, reason: 'directed' });
    }
  }
  return out;
}

/** RFC 6121 §4.2.2: on initial presence, probe every contact with 'to' or 'both', unless blocked. */
export function probeTargets(roster: Roster, blocked: ReadonlySet<string>): string[] {
  return roster.items.filter((i) => isSubscribedTo(i) && !isBlocked(blocked, i.jid)).map((i) => i.jid);
}

/**
 * RFC 6121 §4.3.2: a probe is answered only when the prober has a 'from' or
 * 'both' subscription in the contact's roster and is not blocked; otherwise
 * the contact's server reveals nothing.
 */
export function mayAnswerProbe(contactRoster: Roster, proberBare: string, blocked: ReadonlySet<string>): boolean {
  if (isBlocked(blocked, proberBare)) return false;
  return isSubscriber(contactRoster.items.find((i) => i.jid === proberBare));
}

/**
 * XEP-0191 §6 (JID matching, as far as Vigil stores items): a bare-JID item
 * blocks that account, a domain item blocks every account of the domain.
 */
export function isBlocked(blocked: ReadonlySet<string>, jid: string): boolean {
  if (blocked.size === 0) return false;
  const bare = bareOf(jid);
  return blocked.has(bare) || blocked.has(bare.slice(bare.indexOf('@') + 1));
}

export function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}
