import type { Subscription } from '@vigil/roster';
import type { Stores } from './open.js';
import { AccountExistsError } from './errors.js';

export interface Contact {
  /** Localpart of the roster owner. */
  readonly owner: string;
  readonly contact: string;
  readonly subscription: Subscription;
  readonly name?: string;
}

/**
 * Creates accounts (skipping those that exist) and writes roster items.
 * For the dev cluster's demo users and for tests; the gRPC AccountService and
 * RosterService are the production path.
 */
export async function provisionUsers(
  stores: Stores,
  domain: string,
  users: readonly { username: string; password: string }[],
  contacts: readonly Contact[],
  iterations: number,
): Promise<void> {
  for (const u of users) {
    try {
      await stores.accounts.create(u.username, u.password, iterations);
    } catch (e) {
      if (!(e instanceof AccountExistsError)) throw e;
    }
  }
  // One item per (owner, contact): a later entry replaces an earlier one.
  const byOwner = new Map<string, Map<string, Contact>>();
  for (const c of contacts) {
    const list = byOwner.get(c.owner) ?? new Map<string, Contact>();
    list.set(c.contact, c);
    byOwner.set(c.owner, list);
  }
  for (const [owner, byContact] of byOwner) {
    const list = [...byContact.values()];
    const { record, revision } = await stores.rosters.get(owner);
    const items = record.roster.items.filter((i) => !list.some((c) => `${c.contact}@${domain}` === i.jid));
    for (const c of list) {
      items.push({ jid: `${c.contact}@${domain}`, name: c.name ?? c.contact, subscription: c.subscription, pendingOut: false, groups: [] });
    }
    await stores.rosters.put(owner, { ...record, roster: { version: record.roster.version + 1, items } }, revision);
  }
}
