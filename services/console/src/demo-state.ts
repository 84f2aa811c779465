// The demo panel's roster state as pure functions: bundled into the front end
// (web/tsconfig.json includes this file) and unit-tested here on Node.
/** What one demo user's own XMPP client knows: its roster and which contacts' resources are available to it. */

export interface Contact {
  readonly jid: string;
  readonly name: string;
  readonly subscription: string;
  /** Resources this client has received available presence from, with their status text. */
  readonly available: Readonly<Record<string, string>>;
}

export type Contacts = Readonly<Record<string, Contact>>;

/** The roster result (RFC 6121 §2.1.4) replaces the contact list, keeping presence already received. */
export function fromRoster(prev: Contacts, items: readonly { jid: string; name: string; subscription: string }[]): Contacts {
  const next: Record<string, Contact> = {};
  for (const i of items) next[i.jid] = { ...i, available: prev[i.jid]?.available ?? {} };
  return next;
}

/**
 * A presence stanza received: available adds or updates the sender's
 * resource, `unavailable` removes it (RFC 6121 §4.5.2 is what the cluster
 * guarantees arrives, even when the sender's client or node died).
 */
export function onPresence(prev: Contacts, from: string, type: string | undefined, status: string): Contacts {
  const slash = from.indexOf('/');
  const bare = slash < 0 ? from : from.slice(0, slash);
  const resource = slash < 0 ? '' : from.slice(slash + 1);
  const c = prev[bare];
  if (c === undefined) return prev;
  if (type === undefined) return { ...prev, [bare]: { ...c, available: { ...c.available, [resource]: status } } };
  if (type === 'unavailable') {
    const rest = { ...c.available };
    delete rest[resource];
    return { ...prev, [bare]: { ...c, available: rest } };
  }
  return prev;
}
