import { resourceEnds, type LastSeen } from '@vigil/store';
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
  return endedUnavailable(from, last?.status ?? '', last?.unixMs ?? 0);
}

/** An unavailable from `from` as it ended: its status, and when (XEP-0203) if known. */
function endedUnavailable(from: string, status: string, unixMs: number): string {
  const body = (status !== '' ? `<status>${escapeText(status)}</status>` : '')
    + (unixMs > 0 ? `<delay xmlns='urn:xmpp:delay' stamp='${new Date(unixMs).toISOString()}'/>` : '');
  return body === '' ? unavailableFrom(from) : `<presence from='${escapeAttr(from)}' type='unavailable'>${body}</presence>`;
}

/**
 * The unavailables a restored session's probe is answered with (RFC 6121
 * §4.3.2, widened): one from each resource the contact's last-seen value
 * remembers (LAST_SEEN_RESOURCES, newest first) that is not among
 * `availableFullJids` (those answer with their presence), each stamped
 * with when it ended (XEP-0203), the last one with its status too. When it
 * remembers no resource (a value from before they were kept, or none) and
 * nobody is available: one from the bare JID (lastUnavailableFrom).
 *
 * Some of these the client never saw available (a resource that left
 * before its session began, or that it was already told about): an
 * unavailable from a resource a client does not show changes nothing
 * there, and §4.3.2 itself answers any probe, an ordinary login's too,
 * with the last unavailable when nobody is available. Filtering by when
 * the restored session began would hang on comparing clocks of different
 * machines; a missing unavailable leaves a ghost, an extra one nothing.
 */
export function lastUnavailables(contactBareJid: string, last: LastSeen | undefined, availableFullJids: readonly string[]): string[] {
  // A value of another account (it cannot be, but it would leak resources) is taken for none.
  const own = last?.fullJid === undefined || last.fullJid.startsWith(`${contactBareJid}/`) ? last : undefined;
  const ends = resourceEnds(own);
  if (ends.length === 0) return availableFullJids.length === 0 ? [lastUnavailableFrom(contactBareJid, last)] : [];
  const out: string[] = [];
  for (const [i, e] of ends.entries()) {
    const from = `${contactBareJid}/${e.resource}`;
    if (availableFullJids.includes(from)) continue;
    // resourceEnds lists the value's last end first when it has one: that status is its.
    const status = i === 0 && own?.fullJid !== undefined ? own.status : '';
    out.push(endedUnavailable(from, status, e.unixMs));
  }
  return out;
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
