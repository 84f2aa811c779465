import type { RosterItem } from '@vigil/roster';
import type { RosterRecord } from '@vigil/store';

const itemKey = (i: RosterItem): string => JSON.stringify([i.jid, i.name, i.subscription, i.pendingOut, i.approved ?? false, [...i.groups]]);

/** Same items (in order), pending requests (by sender and stanza) and block list; versions and arrival times aside. */
export function sameRecord(a: RosterRecord, b: RosterRecord): boolean {
  const same = <T>(x: readonly T[], y: readonly T[], key: (v: T) => string): boolean => x.length === y.length && x.every((v, i) => key(v) === key(y[i] as T));
  return (
    same(a.roster.items, b.roster.items, itemKey) &&
    same(a.pendingIn, b.pendingIn, (p) => `${p.fromBareJid}\n${p.stanzaXml}`) &&
    same(a.blocked, b.blocked, (s) => s)
  );
}
