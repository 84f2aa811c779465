import type { LastSeen } from '@vigil/store';
import { escapeAttr, escapeText } from '@vigil/xmpp';

/**
 * Addressing a stanza serialized by a connection node (which always strips
 * 'to' and writes the element name first) without re-parsing it lives in
 * @vigil/xmpp, shared with the nodes' fan-out delivery.
 */
export { withTo } from '@vigil/xmpp';

/** RFC 6121 §4.5.2: the unavailable the server sends on a session's behalf when it vanished. */
export function unavailableFrom(fullJid: string): string {
  return `<presence from='${escapeAttr(fullJid)}' type='unavailable'/>`;
}

/**
 * RFC 6121 §4.3.2: the answer to a probe for a contact with no available
 * resource, from the full JID of the resource whose unavailable ended its
 * last session when that is known (else the bare JID), with that
 * unavailable's status and, as XEP-0203 delayed delivery, when it was.
 */
export function lastUnavailableFrom(contactBareJid: string, last: LastSeen | undefined): string {
  const full = last?.fullJid ?? '';
  // A value of another account (it cannot be, but it would leak a resource) falls back to the bare JID.
  const from = full.startsWith(`${contactBareJid}/`) ? full : contactBareJid;
  const status = last !== undefined && last.status !== '' ? `<status>${escapeText(last.status)}</status>` : '';
  const delay = last !== undefined && last.unixMs > 0 ? `<delay xmlns='urn:xmpp:delay' stamp='${new Date(last.unixMs).toISOString()}'/>` : '';
  const body = status + delay;
  return body === '' ? unavailableFrom(from) : `<presence from='${escapeAttr(from)}' type='unavailable'>${body}</presence>`;
}

export function localpartOf(bareJid: string): string {
  const at = bareJid.indexOf('@');
  return at === -1 ? '' : bareJid.slice(0, at);
}

export function domainOf(jid: string): string {
  const at = jid.indexOf('@');
  const slash = jid.indexOf('/', at + 1);
  return jid.slice(at + 1, slash === -1 ? undefined : slash);
}
