/** Imported accounts as the authority stores them, and stored ones as the XEP-0227 model of @vigil/pie. */
import type { store } from '@vigil/proto';
import { itemToWire } from '@vigil/store';
import type { PieAccount } from '@vigil/pie';
import { escapeAttr, escapeText, parseStanza, type ScramCredential } from '@vigil/xmpp';
import type { RosterRecord } from '@vigil/store';

/** The pending request as the XMPP path stores it: the stanza without `to`, re-sent at each initial presence. */
export function pendingStanza(from: string, status: string): string {
  const head = `<presence from='${escapeAttr(from)}' type='subscribe'`;
  return status === '' ? `${head}/>` : `${head}><status>${escapeText(status)}</status></presence>`;
}

/** The stored record an imported account asks for (its version is the owner's business). */
export function recordToWire(a: PieAccount): store.StoredRoster {
  return {
    version: 0,
    items: a.items.map((i) => itemToWire({ jid: i.jid, name: i.name, subscription: i.subscription, pendingOut: i.pendingOut, approved: i.approved, groups: [...i.groups] })),
    pendingIn: a.pendingIn.map((p) => ({ fromBareJid: p.from, stanzaXml: pendingStanza(p.from, p.status), receivedAtUnixMs: 0 })),
    blocked: [...a.blocked],
  };
}

/** A stored account and roster as the model has them, for export. */
export function exportedAccount(username: string, credentials: readonly ScramCredential[], record: RosterRecord): PieAccount {
  return {
    username,
    scram: credentials.map((c) => ({ hash: c.hash, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey })),
    items: record.roster.items.map((i) => ({ jid: i.jid, name: i.name, subscription: i.subscription, pendingOut: i.pendingOut, approved: i.approved ?? false, groups: [...i.groups] })),
    pendingIn: record.pendingIn.map((p) => ({ from: p.fromBareJid, status: statusOf(p.stanzaXml) })),
    blocked: [...record.blocked],
  };
}

function statusOf(stanzaXml: string): string {
  try {
    return parseStanza(stanzaXml).getChildText('status') ?? '';
  } catch {
    // A stored stanza that does not parse has no status worth exporting; the request itself still is.
    return '';
  }
}
