import { randomBytes } from 'node:crypto';
import { el, NS, type Element } from '@vigil/xmpp';
import type { RosterItem } from '@vigil/roster';

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
