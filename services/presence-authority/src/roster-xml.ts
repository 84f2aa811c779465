import { randomBytes } from 'node:crypto';
import { el, escapeAttr, escapeText, NS, type Element } from '@vigil/xmpp';
import type { cluster } from '@vigil/proto';
import type { Roster, RosterItem } from '@vigil/roster';

export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_LAST = 'jabber:iq:last';

/** RFC 6121 §2.1.2: one <item/>, with ask and approved only when set. */
export function itemElement(i: RosterItem): Element {
  return el(
    'item',
    {
      jid: i.jid,
      name: i.name === '' ? undefined : i.name,
      subscription: i.subscription,
      ask: i.pendingOut ? 'subscribe' : undefined,
      approved: i.approved ? 'true' : undefined,
    },
    ...i.groups.map((g) => el('group', {}, g)),
  );
}

/** itemElement(i).toString(), written as text: a login's roster result has one per contact. */
export function itemXml(i: RosterItem): string {
  let out = `<item jid='${escapeAttr(i.jid)}'`;
  if (i.name !== '') out += ` name='${escapeAttr(i.name)}'`;
  out += ` subscription='${escapeAttr(i.subscription)}'`;
  if (i.pendingOut) out += " ask='subscribe'";
  if (i.approved === true) out += " approved='true'";
  if (i.groups.length === 0) return `${out}/>`;
  out += '>';
  for (const g of i.groups) out += g === '' ? '<group/>' : `<group>${escapeText(g)}</group>`;
  return `${out}</item>`;
}

/**
 * RFC 6121 §2.1.3 (with §2.6.3 versioning): the result of the user's own
 * typed roster get (`g`, sent from `fullJid`), as text: exactly what
 * RosterEditor builds as elements for typedIq(g), without the tree.
 */
export function ownRosterResultXml(g: cluster.RosterGet, fullJid: string | undefined, roster: Roster): string {
  let out = `<iq id='${escapeAttr(g.iqId)}' type='result'`;
  if (fullJid !== undefined) out += ` to='${escapeAttr(fullJid)}'`;
  if (g.to !== '') out += ` from='${escapeAttr(g.to)}'`;
  const ver = String(roster.version);
  if (g.hasVer && g.ver === ver) return `${out}/>`;
  out += `><query xmlns='${NS.roster}' ver='${ver}'`;
  if (roster.items.length === 0) return `${out}/></iq>`;
  out += '>';
  for (const i of roster.items) out += itemXml(i);
  return `${out}</query></iq>`;
}

export function pushId(): string {
  return `push-${randomBytes(6).toString('hex')}`;
}

/** RFC 6121 §2.1.6: a roster push carrying one changed item; with versioning, the new version (§2.6). */
export function rosterPush(item: RosterItem | { jid: string; removed: true }, version: number): string {
  const itemEl = 'removed' in item ? el('item', { jid: item.jid, subscription: 'remove' }) : itemElement(item);
  return el('iq', { type: 'set', id: pushId() }, el('query', { xmlns: NS.roster, ver: String(version) }, itemEl)).toString();
}

/** XEP-0191 §3.3/§3.4: a block or unblock push listing the changed JIDs (none: unblock all). */
export function blockPush(kind: 'block' | 'unblock', jids: readonly string[]): string {
  return el('iq', { type: 'set', id: pushId() }, el(kind, { xmlns: NS_BLOCKING }, ...jids.map((jid) => el('item', { jid })))).toString();
}
