import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKETS } from '@vigil/cluster';
import { AccountStore } from './accounts.js';
import { RosterStore } from './rosters.js';
import { LastSeenStore } from './last-seen.js';

export interface Stores {
  readonly accounts: AccountStore;
  readonly rosters: RosterStore;
  readonly lastSeen: LastSeenStore;
}

export interface OpenStoresOptions {
  /** 1 for the embedded dev server, 3 in a production NATS cluster (DESIGN.md "JetStream durability"). */
  readonly replicas?: number;
}

/** Opens (creating when missing) the durable buckets. Idempotent: every process may call it at start. */
export async function openStores(nc: NatsConnection, options: OpenStoresOptions = {}): Promise<Stores> {
  const kvm = new Kvm(nc);
  const replicas = options.replicas ?? 1;
  const [accounts, rosters, lastSeen] = await Promise.all([
    kvm.create(BUCKETS.accounts, { history: 1, replicas, storage: 'file', description: 'Vigil accounts: SCRAM keys only' }),
    kvm.create(BUCKETS.rosters, { history: 1, replicas, storage: 'file', description: 'Vigil rosters (RFC 6121 §2)' }),
    kvm.create(BUCKETS.lastSeen, { history: 1, replicas, storage: 'file', description: 'Vigil last activity (XEP-0012)' }),
  ]);
  return {
    accounts: new AccountStore(accounts, BUCKETS.accounts),
    rosters: new RosterStore(rosters, BUCKETS.rosters),
    lastSeen: new LastSeenStore(lastSeen),
  };
}
