import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { cluster, store } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import { LeaseTable, planShards, type LockView } from '@vigil/lease';
import type { Logger } from '@vigil/telemetry';
import type { AuthorityConfig } from './config.js';
import type { AuthorityMetrics } from './metrics.js';

export interface ShardCallbacks {
  /** The shard is ours at `epoch`: load its state and start acting on it. */
  acquired(shard: number, epoch: number): Promise<void>;
  /** Graceful hand-over: finish what is in hand, stop acting; the lock is deleted afterwards. */
  releasing(shard: number): Promise<void>;
  /** Ownership is gone or in doubt: stop acting at once, announce nothing. */
  lost(shard: number, why: string): void;
}

interface Owned {
  epoch: number;
  revision: number;
  /** Monotonic time of the last successful renewal. */
  renewedAtMs: number;
  /** The last renewal issued (settles, never rejects); a release waits for it so its delete expects the right revision. */
  renewal?: Promise<void>;
}

const lockKey = (shard: number): string => `shard.${shard}`;
/** Lock renewals issued in one turn of the event loop (see #renewAll). */
const RENEWALS_PER_TURN = 4;
/** Share of the renewal period over which one round's renewals are spread (see #renewAll). */
const RENEWAL_SPREAD = 0.5;

/**
 * Shard ownership for one authority replica (DESIGN.md "Sharding"): a lock
 * per shard in KV, created or updated only by compare-and-set, renewed every
 * third of its TTL; the revision at which a replica took the lock is the
 * shard's epoch. Replicas see each other through heartbeats and balance by
 * the pure planner in libs/lease. A replica that cannot renew in time stops
 * acting on the shard before anyone else may take it (self-fencing).
 */
export class ShardManager {
  readonly incarnation = randomBytes(6).toString('hex');
  readonly #owned = new Map<number, Owned>();
  readonly #locks = new Map<number, LockView>();
  readonly #members: LeaseTable;
  readonly #leaving = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  /** The renewal round in flight; renewals never overlap (two CAS writes of one lock would depose ourselves). */
  #renewing: Promise<void> | undefined;
  #hbTimer: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  #stopped = false;
  #watch: { stop(): void } | undefined;
  /** NATS connection state, from the client's status events. */
  #connected = true;
  /** Since when KV writes have been working for us; undefined while they fail. */
  #kvHealthySinceMs: number | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  #lastStallCheckMs = 0;
  #ticking: Promise<void> | undefined;
  /** Milliseconds between renewal rounds (a third of the lock TTL). */
  readonly #renewPeriodMs: number;
  /** Ends the wait between two slices of a renewal round at once (stop). */
  #hurry: (() => void) | undefined;

  constructor(
    private readonly deps: {
      readonly nc: NatsConnection;
      readonly kv: KV;
      readonly subjects: Subjects;
      readonly config: AuthorityConfig;
      readonly log: Logger;
      readonly callbacks: ShardCallbacks;
      readonly now?: () => number;
      readonly metrics?: AuthorityMetrics;
    },
  ) {
    this.#members = new LeaseTable({ leaseMs: deps.config.timings.nodeLeaseMs });
    this.#renewPeriodMs = Math.max(50, Math.floor(deps.config.timings.shardLockTtlMs / 3));
  }

  get owned(): ReadonlyMap<number, { readonly epoch: number }> {
    return this.#owned;
  }

  /** Replicas alive now by their heartbeats (leaving ones excluded), this one included. */
  members(): string[] {
    const now = this.#now();
    const ids = new Set(this.#members.list().filter((l) => l.expiresAtMs > now && !this.#leaving.has(l.nodeId)).map((l) => l.nodeId));
    ids.add(this.deps.config.authorityId);
    return [...ids].sort();
  }

  epochOf(shard: number): number | undefined {
    return this.#owned.get(shard)?.epoch;
  }

  /** Joins: heartbeats, lock watch, then a first round of acquisitions before returning. */
  async start(): Promise<void> {
    const { nc, subjects } = this.deps;
    this.#sub = nc.subscribe(subjects.allAuthorityHeartbeats, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = cluster.AuthorityHeartbeat.decode(msg.data);
          if (hb.leaving) this.#leaving.add(hb.authorityId);
          else {
            this.#leaving.delete(hb.authorityId);
            this.#members.heartbeat(hb.authorityId, hb.incarnation, this.#now());
          }
        } catch (e) {
          this.deps.log.warn('dropped malformed authority heartbeat', { subject: msg.subject, err: e });
        }
      },
    });
    this.#heartbeat(false);
    const hbPeriod = this.deps.config.timings.heartbeatIntervalMs;
    this.#hbTimer = setInterval(() => this.#heartbeat(false), hbPeriod);
    void this.#watchLocks();
    void this.#watchConnection();
    this.#kvHealthySinceMs = this.#now();
    this.#lastStallCheckMs = this.#now();
    this.#stallTimer = setInterval(() => this.#checkStall(), 100);
    await this.tick();
    const period = this.#renewPeriodMs;
    // Renewal runs on its own clock: a long rebalance (a takeover loading many shards) must not hold it up,
    // and a rebalance must not wait for a renewal round either.
    this.#renewTimer = setInterval(() => void this.#renewAll(), period);
    const loop = () => {
      this.#timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.#stopped) loop();
        });
      }, period * (0.9 + Math.random() * 0.1));
    };
    loop();
  }

  /** Hands every shard over and says goodbye, so others take over at once instead of after a TTL. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#hurry?.();
    clearTimeout(this.#timer);
    clearInterval(this.#renewTimer);
    clearInterval(this.#hbTimer);
    clearInterval(this.#stallTimer);
    await this.#ticking;
    await this.#renewing;
    for (const shard of [...this.#owned.keys()]) await this.#release(shard);
    this.#heartbeat(true);
    this.#sub?.unsubscribe();
    this.#watch?.stop();
  }

  /** One round: rebalance (renewals, and fencing what could not be renewed in time, run on their own timer). */
  async tick(): Promise<void> {
    if (this.#ticking) return this.#ticking;
    this.#ticking = this.#round().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /**
   * Renews every owned lock, then fences what could not be renewed in time.
   * One round at a time, spread evenly over the first RENEWAL_SPREAD of the
   * renewal period, RENEWALS_PER_TURN at a time: every renewal costs a KV
   * write, its acknowledgement and its echo on the lock watch, and 256 of
   * them in one burst (even 16 per turn) kept the event loop busy for
   * several milliseconds every second, the gRPC API's p99. Each lock is
   * still renewed once per period, at about the same point of it, so the
   * time between two renewals of a lock does not change.
   */
  #renewAll(): Promise<void> {
    this.#renewing ??= (async () => {
      const ttl = this.deps.config.timings.shardLockTtlMs;
      const shards = [...this.#owned.keys()];
      const slices = Math.ceil(shards.length / RENEWALS_PER_TURN);
      const gapMs = slices > 1 ? (this.#renewPeriodMs * RENEWAL_SPREAD) / (slices - 1) : 0;
      const renewals: Promise<void>[] = [];
      for (let i = 0; i < shards.length && !this.#stopped; i += RENEWALS_PER_TURN) {
        if (i > 0) await this.#pause(gapMs);
        for (const shard of shards.slice(i, i + RENEWALS_PER_TURN)) renewals.push(this.#renew(shard));
      }
      await Promise.all(renewals);
      for (const [shard, o] of this.#owned) {
        // Cut off from NATS: others may be taking the shard right now. Stop acting well before they may.
        // (While connected, a failed renewal means JetStream itself is electing a leader: nobody else
        // can write the lock either, and others wait a whole TTL of working KV before they may.)
        if (!this.#connected && this.#now() - o.renewedAtMs > ttl * 0.75) this.#lose(shard, 'lock not renewed while disconnected');
      }
    })().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /** Waits `ms` between two slices of a renewal round, or less when stopping. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#hurry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #round(): Promise<void> {
    const ttl = this.deps.config.timings.shardLockTtlMs;
    if (this.#stopped) return;
    this.#members.expire(this.#now());
    const members = new Set(this.#members.list().map((l) => l.nodeId));
    for (const id of this.#leaving) members.delete(id);
    members.add(this.deps.config.authorityId);
    // A lock looks abandoned only after a whole TTL in which our own KV access worked: an
    // election in JetStream stops every holder from renewing, and must not look like death.
    const healthySince = this.#kvHealthySinceMs;
    if (healthySince === undefined) return;
    const locks = new Map([...this.#locks].map(([shard, l]) => [shard, { ...l, seenAtMs: Math.max(l.seenAtMs, healthySince) }]));
    const actions = planShards({
      self: this.deps.config.authorityId,
      members: [...members],
      shardCount: this.deps.config.shardCount,
      locks,
      owned: new Set(this.#owned.keys()),
      nowMs: this.#now(),
      lockTtlMs: ttl,
    });
    const before = this.#owned.size;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < actions.length && !this.#stopped) {
        const a = actions[next++];
        if (a === undefined) return;
        if (a.kind === 'acquire') await this.#acquire(a.shard, a.expectedRevision);
        else await this.#release(a.shard);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.config.takeoverConcurrency, actions.length) }, worker));
    if (this.#stopped) return;
    if (actions.length > 0) {
      this.deps.log.info('shard ownership changed', { owned: this.#owned.size, before, members: members.size });
    }
  }

  async #acquire(shard: number, expectedRevision: number): Promise<void> {
    const value = this.#lockValue(0);
    let revision: number;
    try {
      revision = expectedRevision === 0 ? await this.deps.kv.create(lockKey(shard), value) : await this.deps.kv.update(lockKey(shard), value, expectedRevision);
      this.#kvWorked();
    } catch (e) {
      this.deps.log.debug('shard lock race lost', { shard, err: e });
      if (!isConflict(e)) this.#kvFailed();
      await this.#refreshLock(shard);
      return;
    }
    this.#owned.set(shard, { epoch: revision, revision, renewedAtMs: this.#now() });
    this.deps.metrics?.shardChanged('acquired');
    this.#locks.set(shard, { owner: this.deps.config.authorityId, revision, seenAtMs: this.#now() });
    this.deps.log.debug('shard acquired', { shard, epoch: revision });
    try {
      await this.deps.callbacks.acquired(shard, revision);
    } catch (e) {
      this.deps.log.error('shard takeover failed; giving it back', { shard, err: e });
      await this.#release(shard);
    }
  }

  #renew(shard: number): Promise<void> {
    const o = this.#owned.get(shard);
    if (!o) return Promise.resolve();
    o.renewal = this.#renewOwned(shard, o);
    return o.renewal;
  }

  async #renewOwned(shard: number, o: Owned): Promise<void> {
    try {
      const revision = await this.deps.kv.update(lockKey(shard), this.#lockValue(o.epoch), o.revision);
      o.revision = revision;
      o.renewedAtMs = this.#now();
      // Our view of our own lock, so the watch's echo of this renewal is recognised without decoding it.
      if (this.#owned.get(shard) === o) this.#locks.set(shard, { owner: this.deps.config.authorityId, revision, seenAtMs: o.renewedAtMs });
      this.#kvWorked();
    } catch (e) {
      // A lost compare-and-set means someone else holds the lock now; any other error may clear up within the TTL.
      if (isConflict(e)) return this.#lose(shard, 'lock taken by another replica');
      this.#kvFailed();
      this.deps.log.debug('shard lock renewal failed', { shard, err: e });
    }
  }

  async #release(shard: number): Promise<void> {
    const o = this.#owned.get(shard);
    if (!o) return;
    try {
      await this.deps.callbacks.releasing(shard);
    } finally {
      this.#owned.delete(shard);
      this.deps.metrics?.shardChanged('released');
    }
    // A renewal in flight would move the revision the delete below expects (none is issued after the delete above).
    await o.renewal;
    try {
      await this.deps.kv.delete(lockKey(shard), { previousSeq: o.revision });
      this.deps.log.debug('shard released', { shard, epoch: o.epoch });
    } catch (e) {
      this.deps.metrics?.kvError('shards', 'delete');
      this.deps.log.warn('shard lock not deleted; it will go stale', { shard, err: e });
    }
  }

  #kvWorked(): void {
    if (this.#kvHealthySinceMs === undefined) {
      this.#kvHealthySinceMs = this.#now();
      this.deps.log.info('shard locks writable again');
    }
  }

  #kvFailed(): void {
    this.deps.metrics?.kvError('shards', 'write');
    if (this.#kvHealthySinceMs !== undefined) this.deps.log.warn('shard locks not writable (JetStream unavailable?)');
    this.#kvHealthySinceMs = undefined;
  }

  /** Re-reads one lock after a lost race, in case the watch missed its latest revision. */
  async #refreshLock(shard: number): Promise<void> {
    try {
      const e = await this.deps.kv.get(lockKey(shard));
      if (e === null || e.operation !== 'PUT') this.#locks.delete(shard);
      else if (this.#locks.get(shard)?.revision !== e.revision) {
        this.#locks.set(shard, { owner: store.ShardLock.decode(e.value).ownerId, revision: e.revision, seenAtMs: this.#now() });
      }
    } catch {
      // The next round tries again.
    }
  }

  /**
   * A replica that was paused (SIGSTOP, a long GC) for most of a TTL cannot
   * know whether its locks were taken meanwhile: it stops acting on all of
   * them at once and takes them back by compare-and-set, which succeeds
   * only if nobody else did.
   */
  #checkStall(): void {
    const now = this.#now();
    const gap = now - this.#lastStallCheckMs;
    this.#lastStallCheckMs = now;
    if (gap < this.deps.config.timings.shardLockTtlMs * 0.75 || this.#owned.size === 0) return;
    this.deps.log.warn('stalled; putting every shard in doubt', { stalledMs: Math.round(gap) });
    for (const shard of [...this.#owned.keys()]) this.#lose(shard, 'stalled');
  }

  async #watchConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (status.type === 'disconnect') this.#connected = false;
      if (status.type === 'reconnect') this.#connected = true;
    }
  }

  #lose(shard: number, why: string): void {
    if (!this.#owned.delete(shard)) return;
    this.deps.metrics?.shardChanged('lost');
    this.deps.log.warn('shard ownership lost', { shard, why, owned: this.#owned.size });
    this.deps.callbacks.lost(shard, why);
  }

  async #watchLocks(): Promise<void> {
    const watch = await this.deps.kv.watch({ key: 'shard.*' });
    this.#watch = watch;
    for await (const e of watch) {
      const shard = Number(e.key.slice('shard.'.length));
      if (!Number.isInteger(shard)) continue;
      if (e.operation !== 'PUT') {
        this.#locks.delete(shard);
        continue;
      }
      const prev = this.#locks.get(shard);
      if (prev?.revision === e.revision) continue;
      try {
        const lock = store.ShardLock.decode(e.value);
        this.#locks.set(shard, { owner: lock.ownerId, revision: e.revision, seenAtMs: this.#now() });
      } catch (err) {
        this.deps.log.warn('unreadable shard lock', { shard, err });
      }
      if (this.#stopped) break;
    }
  }

  #heartbeat(leaving: boolean): void {
    const hb: cluster.AuthorityHeartbeat = {
      authorityId: this.deps.config.authorityId, incarnation: this.incarnation, shardsOwned: this.#owned.size, leaving,
    };
    this.deps.nc.publish(this.deps.subjects.authorityHeartbeat(this.deps.config.authorityId), cluster.AuthorityHeartbeat.encode(hb).finish());
  }

  #lockValue(epoch: number): Uint8Array {
    return store.ShardLock.encode({ ownerId: this.deps.config.authorityId, epoch, renewedAtUnixMs: Date.now() }).finish();
  }

  #now(): number {
    return this.deps.now?.() ?? performance.now();
  }
}

/** A compare-and-set lost: someone else wrote the key. */
function isConflict(e: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String(e));
}
