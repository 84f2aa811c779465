import { bareOf, isBlocked, type SessionPresence } from './presence.js';
import { isSubscribedTo, isSubscriber, type Roster } from './types.js';

/**
 * What every broadcast and every probe of one user asks of its roster and
 * block list, worked out once per version of them instead of once per
 * stanza: a login sends one broadcast and about as many probes as the roster
 * has contacts, and each used to build the block list's Set (twice per probe)
 * and filter the roster again. A view is immutable; a changed roster or block
 * list gets a new one (the caller keeps it beside the record it was made from).
 */
export interface RosterView {
  /** Bare JIDs and domains the user blocked (XEP-0191), as a set. */
  readonly blocked: ReadonlySet<string>;
  /** Contacts with 'from' or 'both' that the user has not blocked, in roster order: the subscribers of broadcastRecipients. */
  readonly subscribers: readonly string[];
  /** Contacts with 'to' or 'both' that the user has not blocked, in roster order: probeTargets. */
  readonly probeTargets: readonly string[];
  readonly roster: Roster;
  /**
   * Probers to answer (viewMayAnswerProbe), made at the first probe: a scan of
   * the roster compared every contact's JID in full (all the same length) for
   * each of a login's probes. Not part of the view's value; viewMayAnswerProbe fills it.
   */
  answerable?: ReadonlySet<string>;
}

const NO_BLOCKED: ReadonlySet<string> = Object.freeze(new Set<string>());
const NONE: readonly string[] = Object.freeze([]);

export function rosterView(roster: Roster, blocked: readonly string[]): RosterView {
  const blockedSet = blocked.length === 0 ? NO_BLOCKED : new Set(blocked);
  const subscribers: string[] = [];
  const probes: string[] = [];
  for (const item of roster.items) {
    if (isBlocked(blockedSet, item.jid)) continue;
    if (isSubscriber(item)) subscribers.push(item.jid);
    if (isSubscribedTo(item)) probes.push(item.jid);
  }
  // Mostly all contacts are 'both': one array serves as both lists (a view is kept per cached roster).
  const probeTargets = sameJids(subscribers, probes) ? subscribers : probes;
  return { blocked: blockedSet, subscribers: subscribers.length === 0 ? NONE : subscribers, probeTargets: probeTargets.length === 0 ? NONE : probeTargets, roster };
}

function sameJids(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The JIDs broadcastRecipients returns for the same input, in the same
 * order, from a view. Nearly every broadcast (one resource, no presence
 * error, no directed presence) goes to exactly the view's subscribers, and
 * gets that array itself: callers must not change what is returned.
 */
export function broadcastJids(view: RosterView, session: SessionPresence, otherResources: readonly string[], kind: 'available' | 'unavailable'): readonly string[] {
  const errors = session.presenceErrorsFrom;
  const directed = kind === 'unavailable' ? session.directedTo : NO_BLOCKED;
  let others = 0;
  for (const r of otherResources) if (r !== session.fullJid) others++;
  if (errors.size === 0 && others === 0 && directed.size === 0) return view.subscribers;
  const out = errors.size === 0 ? [...view.subscribers] : view.subscribers.filter((j) => !errors.has(j));
  const seenBare = directed.size === 0 ? NO_BLOCKED : new Set(out);
  for (const r of otherResources) if (r !== session.fullJid) out.push(r);
  for (const target of directed) {
    if (seenBare.has(bareOf(target)) || isBlocked(view.blocked, target)) continue;
    out.push(target);
  }
  return out;
}

/** mayAnswerProbe from a view: RFC 6121 §4.3.2, a prober that is a 'from'/'both' contact and not blocked. */
export function viewMayAnswerProbe(view: RosterView, proberBare: string): boolean {
  if (isBlocked(view.blocked, proberBare)) return false;
  view.answerable ??= answerableOf(view.roster);
  return view.answerable.has(proberBare);
}

/** JIDs whose first roster item (the one findItem gives) is 'from' or 'both'. */
function answerableOf(roster: Roster): ReadonlySet<string> {
  const first = new Set<string>();
  const out = new Set<string>();
  for (const item of roster.items) {
    if (first.has(item.jid)) continue;
    first.add(item.jid);
    if (isSubscriber(item)) out.add(item.jid);
  }
  return out.size === 0 ? NO_BLOCKED : out;
}
