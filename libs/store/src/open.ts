import { Kvm, type KV } from '@nats-io/kv';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKETS } from '@vigil/cluster';
import { AccountStore } from './accounts.js';
import { RosterStore } from './rosters.js';
import { LastSeenStore } from './last-seen.js';
import { SessionStore } from './sessions.js';

export interface Stores {
  readonly accounts: AccountStore;
  readonly rosters: RosterStore;
  readonly lastSeen: LastSeenStore;
  readonly sessions: SessionStore;
}

export interface OpenStoresOptions {
  /** 1 for the embedded dev server, 3 in a production NATS cluster (DESIGN.md "JetStream durability"). */
  readonly replicas?: number;
  /**
   * false: only open buckets that exist, and fail naming the first missing
   * one. Connection nodes open; presence authorities create (with the
   * replication the deployment asks for), so a node started first can never
   * create a bucket with the wrong replication.
   */
  readonly create?: boolean;
}

/** A durable bucket a process needed is not there (yet). */
export class MissingBucketError extends Error {
  constructor(readonly bucket: string, options?: ErrorOptions) {
    super(`KV bucket ${bucket} does not exist (a presence authority creates it)`, options);
    this.name = 'MissingBucketError';
  }
}

async function openExisting(kvm: Kvm, name: string): Promise<KV> {
  const kv = await kvm.open(name);
  try {
    await kv.status();
  } catch (e) {
    throw new MissingBucketError(name, { cause: e });
  }
  return kv;
}

/** Opens (creating when missing) the durable buckets. Idempotent: every process may call it at start. */
export async function openStores(nc: NatsConnection, options: OpenStoresOptions = {}): Promise<Stores> {
  const kvm = new Kvm(nc);
  const replicas = options.replicas ?? 1;
  const [accounts, rosters, lastSeen, sessions] = options.create === false
    ? await Promise.all([
      openExisting(kvm, BUCKETS.accounts), openExisting(kvm, BUCKETS.rosters), openExisting(kvm, BUCKETS.lastSeen), openExisting(kvm, BUCKETS.sessions),
    ])
    : await Promise.all([
    kvm.create(BUCKETS.accounts, { history: 1, replicas, storage: 'file', description: 'Vigil accounts: SCRAM keys only' }),
    // The authorities' own state is read from the stream leader (allow_direct off): a replica that is behind must not
    // hand a new shard owner an older roster or session entry.
    kvm.create(BUCKETS.rosters, { history: 1, replicas, storage: 'file', allow_direct: false, description: 'Vigil rosters (RFC 6121 §2)' }),
    // Also from the leader: its writes are compare-and-set on the revision read, and a replica that is behind would
    // answer with a stale revision every time.
    kvm.create(BUCKETS.lastSeen, { history: 1, replicas, storage: 'file', allow_direct: false, description: 'Vigil last activity (XEP-0012)' }),
    kvm.create(BUCKETS.sessions, { history: 1, replicas, storage: 'file', allow_direct: false, description: 'Vigil session registry, written by shard owners' }),
  ]);
  if (options.create !== false && (await lastSeen.status()).streamInfo.config.allow_direct) {
    // A bucket made by an earlier version (direct reads on): nats.js opens an existing bucket as it is.
    await (await jetstreamManager(nc)).streams.update(`KV_${BUCKETS.lastSeen}`, { allow_direct: false });
  }
  const jsm = await jetstreamManager(nc);
  return {
    accounts: new AccountStore(accounts, BUCKETS.accounts, jsm),
    rosters: new RosterStore(rosters, BUCKETS.rosters),
    lastSeen: new LastSeenStore(lastSeen),
    sessions: new SessionStore(sessions, BUCKETS.sessions, jsm),
  };
}

/**
 * The shard-lock bucket: `shard.<n>` locks and `alive.<id>` liveness keys
 * (docs/decisions.md "Per-replica liveness keys"). Locks are judged by
 * revisions, never by TTL expiry (DESIGN.md "KV TTL is storage hygiene"),
 * and a lock is written only when its shard changes hands, so the bucket has
 * no max age: one would expire the locks of shards that stay put. A bucket
 * created by an earlier version (max age 20 × lock TTL) loses its max age
 * here. A lock whose owner's liveness is gone is free after one TTL, so a
 * cluster down for a while needs no expiry to start again. Leases need no
 * fsync, so memory storage is fine. `lockTtlMs` bounds how long a request to
 * the bucket may wait.
 */
export async function openShardLocks(nc: NatsConnection, options: OpenStoresOptions & { readonly lockTtlMs: number }): Promise<KV> {
  const kv = await new Kvm(nc).create(BUCKETS.shards, {
    history: 1,
    replicas: options.replicas ?? 1,
    storage: 'memory',
    // Read from the stream leader: a replica that is behind could show a live owner's liveness key as deleted.
    allow_direct: false,
    description: 'Vigil shard ownership locks and authority liveness keys',
  });
  const config = (await kv.status()).streamInfo.config;
  if (config.max_age > 0 || config.allow_direct) {
    await (await jetstreamManager(nc)).streams.update(`KV_${BUCKETS.shards}`, { max_age: 0, allow_direct: false });
  }
  // Once the bucket is set up (with the default timeout, so a slow start is not a failed one), its reads and writes
  // are answered within a third of the TTL or fail: a renewal whose answer was lost must not hold up the next one
  // past the TTL (nats.js keeps a request pending until its timeout, 5 s by default, even across a reconnect).
  const timeout = Math.max(250, Math.floor(options.lockTtlMs / 3));
  return new Kvm(jetstream(nc, { timeout, checkAPI: false })).open(BUCKETS.shards);
}
