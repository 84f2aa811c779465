import { escapeAttr } from '@vigil/xmpp';

/**
 * Addresses a stanza serialized by a connection node (which always strips
 * 'to' and writes the element name first) without re-parsing it: fan-out
 * sends one stanza to many recipients and must stay cheap.
 */
export function withTo(stanzaXml: string, to: string): string {
  const m = /^<([a-z]+)[\s/>]/.exec(stanzaXml);
  if (!m || m[1] === undefined) throw new TypeError(`not a serialized stanza: ${stanzaXml.slice(0, 40)}`);
  const name = m[1];
  return `<${name} to='${escapeAttr(to)}'${stanzaXml.slice(name.length + 1)}`;
}

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
