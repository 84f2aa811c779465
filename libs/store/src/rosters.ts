import type { KV } from '@nats-io/kv';
import { cluster, store } from '@vigil/proto';
import { userKey } from '@vigil/cluster';
import { EMPTY_ROSTER, type Roster, type RosterItem, type Subscription } from '@vigil/roster';
import { RevisionConflictError } from './errors.js';

/** A subscription request awaiting the user's answer (RFC 6121 §3.1.3). */
export interface PendingSubscription {
  readonly fromBareJid: string;
  readonly stanzaXml: string;
  readonly receivedAtUnixMs: number;
}

/**
 * Everything about a user's contacts that the owning shard writes together:
 * the roster, pending inbound requests and the block list. One KV entry, so
 * one compare-and-set covers a change that touches several of them.
 */
export interface RosterRecord {
  readonly roster: Roster;
  readonly pendingIn: readonly PendingSubscription[];
  readonly blocked: readonly string[];
}

export const EMPTY_RECORD: RosterRecord = { roster: EMPTY_ROSTER, pendingIn: [], blocked: [] };

export interface VersionedRecord {
  readonly record: RosterRecord;
  /** KV revision of the entry; 0 when the user has none yet. */
  readonly revision: number;
}

/** What a user without a stored record has: one shared value, not an object per cached user. */
const NO_RECORD: VersionedRecord = Object.freeze({ record: EMPTY_RECORD, revision: 0 });

/** What the authority needs of roster storage; RosterStore is the KV one. */
export interface RosterRepository {
  get(username: string): Promise<VersionedRecord>;
  /** Compare-and-set; throws RevisionConflictError when `expectedRevision` is stale. */
  put(username: string, record: RosterRecord, expectedRevision: number): Promise<number>;
}

/** Roster records in the rosters bucket, keyed by localpart; written by the owning shard only. */
export class RosterStore implements RosterRepository {
  constructor(private readonly kv: KV, private readonly bucket: string) {}

  async get(username: string): Promise<VersionedRecord> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return NO_RECORD;
    return { record: decodeRecord(entry.value), revision: entry.revision };
  }

  /** Compare-and-set on the revision read; `expectedRevision` 0 means "must not exist yet". Returns the new revision. */
  async put(username: string, record: RosterRecord, expectedRevision: number): Promise<number> {
    const key = userKey(username);
    const value = encodeRecord(record);
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
  return {
    jid: i.jid,
    name: i.name,
    subscription: SUBSCRIPTION_TO_WIRE[i.subscription],
    pendingOut: i.pendingOut,
    groups: [...i.groups],
    approved: i.approved ?? false,
  };
}

export function itemFromWire(i: cluster.RosterItem): RosterItem {
  return {
    jid: i.jid,
    name: i.name,
    subscription: subscriptionFromWire(i.subscription),
    pendingOut: i.pendingOut,
    groups: i.groups,
    approved: i.approved,
  };
}

export function encodeRecord(r: RosterRecord): Uint8Array {
  return store.StoredRoster.encode({
    version: r.roster.version,
    items: r.roster.items.map(itemToWire),
    pendingIn: r.pendingIn.map((p) => ({ fromBareJid: p.fromBareJid, stanzaXml: p.stanzaXml, receivedAtUnixMs: p.receivedAtUnixMs })),
    blocked: [...r.blocked],
  }).finish();
}

export function decodeRecord(bytes: Uint8Array): RosterRecord {
  const s = store.StoredRoster.decode(bytes);
  return {
    roster: { version: s.version, items: s.items.map(itemFromWire) },
    pendingIn: s.pendingIn,
    blocked: s.blocked,
  };
}
