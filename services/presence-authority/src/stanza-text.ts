import { escapeAttr } from '@vigil/xmpp';

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

export function localpartOf(bareJid: string): string {
  const at = bareJid.indexOf('@');
  return at === -1 ? '' : bareJid.slice(0, at);
}

export function domainOf(jid: string): string {
  const at = jid.indexOf('@');
  const slash = jid.indexOf('/', at + 1);
  return jid.slice(at + 1, slash === -1 ? undefined : slash);
}
