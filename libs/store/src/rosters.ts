import type { KV } from '@nats-io/kv';
import { cluster, store } from '@vigil/proto';
import { userKey } from '@vigil/cluster';
import { EMPTY_ROSTER, type Roster, type RosterItem, type Subscription } from '@vigil/roster';
import { RevisionConflictError } from './errors.js';

export interface VersionedRoster {
  readonly roster: Roster;
  /** KV revision of the entry; 0 when the user has no roster yet. */
  readonly revision: number;
}

/** Rosters in the rosters bucket, keyed by localpart; written by the owning shard only. */
export class RosterStore {
  constructor(private readonly kv: KV, private readonly bucket: string) {}

  async get(username: string): Promise<VersionedRoster> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return { roster: EMPTY_ROSTER, revision: 0 };
    return { roster: decodeRoster(entry.value), revision: entry.revision };
  }

  /** Compare-and-set on the revision read; `expectedRevision` 0 means "must not exist yet". */
  async put(username: string, roster: Roster, expectedRevision: number): Promise<number> {
    const key = userKey(username);
    const value = encodeRoster(roster);
    try {
      return expectedRevision === 0 ? await this.kv.create(key, value) : await this.kv.update(key, value, expectedRevision);
    } catch (e) {
      throw new RevisionConflictError(this.bucket, key, e);
    }
  }
}

const SUBSCRIPTION_TO_WIRE: Record<Subscription, cluster.Subscription> = {
  none: cluster.Subscription.SUBSCRIPTION_NONE,
  to: cluster.Subscription.SUBSCRIPTION_TO,
  from: cluster.Subscription.SUBSCRIPTION_FROM,
  both: cluster.Subscription.SUBSCRIPTION_BOTH,
};

export function subscriptionFromWire(s: cluster.Subscription): Subscription {
  switch (s) {
    case cluster.Subscription.SUBSCRIPTION_TO:
      return 'to';
    case cluster.Subscription.SUBSCRIPTION_FROM:
      return 'from';
    case cluster.Subscription.SUBSCRIPTION_BOTH:
      return 'both';
    default:
      return 'none';
  }
}

export function itemToWire(i: RosterItem): cluster.RosterItem {
  return { jid: i.jid, name: i.name, subscription: SUBSCRIPTION_TO_WIRE[i.subscription], pendingOut: i.pendingOut, groups: [...i.groups] };
}

export function itemFromWire(i: cluster.RosterItem): RosterItem {
  return { jid: i.jid, name: i.name, subscription: subscriptionFromWire(i.subscription), pendingOut: i.pendingOut, groups: i.groups };
}

export function encodeRoster(r: Roster): Uint8Array {
  return store.StoredRoster.encode({ version: r.version, items: r.items.map(itemToWire) }).finish();
}

export function decodeRoster(bytes: Uint8Array): Roster {
  const s = store.StoredRoster.decode(bytes);
  return { version: s.version, items: s.items.map(itemFromWire) };
}
