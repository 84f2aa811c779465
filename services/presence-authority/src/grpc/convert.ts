import { admin, api, cluster } from '@vigil/proto';
import { parseStanza } from '@vigil/xmpp';
import { remembered } from './remembered.js';

type ResourcePresence = api.presence.ResourcePresence;
const Show = api.presence.Show;

const SHOW: Record<string, api.presence.Show> = { chat: Show.SHOW_CHAT, away: Show.SHOW_AWAY, xa: Show.SHOW_XA, dnd: Show.SHOW_DND };

type ShowAndStatus = { readonly show: api.presence.Show; readonly status: string };

/** Presence stanzas whose show and status are remembered. */
const READ_MAX = 2000;

/**
 * RFC 6121 §4.7.2: show and status of a presence stanza; an unreadable one is
 * plainly available. A session's stanza is read once, not at every
 * GetPresence about it (the stanza text is the session record's, so the
 * lookup is by a string whose hash is already known).
 */
export const showAndStatus: (presenceXml: string) => ShowAndStatus = remembered(READ_MAX, parseShowAndStatus);

function parseShowAndStatus(presenceXml: string): ShowAndStatus {
  try {
    const p = parseStanza(presenceXml);
    const show = SHOW[p.getChildText('show')?.trim() ?? ''] ?? Show.SHOW_AVAILABLE;
    const statuses = p.getChildren('status');
    const plain = statuses.find((s) => s.attr('xml:lang') === undefined) ?? statuses[0];
    return { show, status: plain?.getText() ?? '' };
  } catch {
    return { show: Show.SHOW_AVAILABLE, status: '' };
  }
}

export function resourcePresence(s: {
  readonly session?: { readonly sessionId: string; readonly fullJid: string; readonly nodeId: string } | undefined;
  readonly presenceXml: string;
  readonly priority: number;
  readonly availableSinceUnixMs: number;
}): ResourcePresence {
  const fullJid = s.session?.fullJid ?? '';
  return {
    fullJid,
    resource: fullJid.slice(fullJid.indexOf('/') + 1),
    ...showAndStatus(s.presenceXml),
    priority: s.priority,
    nodeId: s.session?.nodeId ?? '',
    availableSinceUnixMs: s.availableSinceUnixMs,
    sessionId: s.session?.sessionId ?? '',
  };
}

/** The available resources of one user (or of one full JID), highest priority first, then oldest first. */
export function userPresence(u: admin.UserSessions, jid: string = u.bareJid): api.presence.UserPresence {
  const resources = u.sessions
    .filter((s) => s.available && (jid === u.bareJid || s.session?.fullJid === jid))
    .map(resourcePresence)
    .sort((a, b) => b.priority - a.priority || a.availableSinceUnixMs - b.availableSinceUnixMs);
  return { jid, resources, sequence: { epoch: u.epoch, counter: u.counter } };
}

export function session(s: admin.SessionInfo): api.presence.Session {
  return {
    sessionId: s.session?.sessionId ?? '',
    fullJid: s.session?.fullJid ?? '',
    nodeId: s.session?.nodeId ?? '',
    nodeIncarnation: s.session?.incarnation ?? '',
    available: s.available,
    presence: s.available ? resourcePresence(s) : undefined,
    directedTo: [...s.directedTo],
  };
}

const C = api.presence.ChangeCause;
const CHANGE_CAUSE: Record<number, api.presence.ChangeCause> = {
  [cluster.EndCause.END_CAUSE_GRACEFUL]: C.CHANGE_CAUSE_GRACEFUL,
  [cluster.EndCause.END_CAUSE_CLIENT_LOST]: C.CHANGE_CAUSE_CLIENT_LOST,
  [cluster.EndCause.END_CAUSE_NODE_LOST]: C.CHANGE_CAUSE_NODE_LOST,
  [cluster.EndCause.END_CAUSE_KICKED]: C.CHANGE_CAUSE_KICKED,
};

/** An owner's change event as the public API shows it. */
export function presenceChange(c: admin.PresenceChanged): api.presence.PresenceChange {
  const fullJid = c.session?.fullJid ?? '';
  const slash = fullJid.indexOf('/');
  return {
    jid: slash === -1 ? fullJid : fullJid.slice(0, slash),
    resource: slash === -1 ? '' : fullJid.slice(slash + 1),
    available: c.available,
    cause: c.available ? C.CHANGE_CAUSE_AVAILABLE : (CHANGE_CAUSE[c.cause] ?? C.CHANGE_CAUSE_UNSPECIFIED),
    presence: c.available ? resourcePresence(c) : undefined,
    sequence: { epoch: c.epoch, counter: c.counter },
    changedAtUnixMs: c.changedAtUnixMs,
  };
}
