import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { cluster, store } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import { LeaseTable, deathsToDeclare, judgeLocks, livenessToPurge, livenessToRetire, planShards, type LivenessView, type ShardKeyView } from '@vigil/lease';
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

/** The JetStream stream behind a KV bucket, for purges bounded by sequence (the KV API has none). */
export interface BucketStream {
  readonly jsm: JetStreamManager;
  readonly stream: string;
  /** Subject of a key, before the key. */
  readonly subjectPrefix: string;
}

export async function lookUpBucketStream(nc: NatsConnection, kv: KV, timeoutMs: number): Promise<BucketStream> {
  const status = await kv.status();
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false });
  // A KV bucket's key k is the message subject $KV.<bucket>.k of its stream.
  return { jsm, stream: status.streamInfo.config.name, subjectPrefix: `$KV.${status.bucket}.` };
}

/**
 * Removes a key's messages up to and including `revision` (its delete marker) and never a later one: a write made
 * after the marker stays, as a compare-and-set at that revision would have lost. Returns how many were removed.
 */
export async function purgeKeyUpTo(target: BucketStream, key: string, revision: number): Promise<number> {
  return (await target.jsm.streams.purge(target.stream, { filter: `${target.subjectPrefix}${key}`, seq: revision + 1 })).purged;
}

interface Owned {
  /** The revision at which we wrote the lock, never rewritten while we hold it. */
  readonly epoch: number;
}

const lockKey = (shard: number): string => `shard.${shard}`;
const LOCK_PREFIX = 'shard.';
const aliveKey = (authorityId: string): string => `alive.${authorityId}`;
const ALIVE_PREFIX = 'alive.';
/** Wait before making a failed bucket watch again. */
const WATCH_RETRY_MS = 250;
/**
 * A deleted liveness key is purged once it has been seen deleted for this many TTLs and no lock names its replica
 * (docs/decisions.md "Per-replica liveness keys", purging delete markers): long enough for every running replica's
 * watch to have seen the deletion, so a lock left naming that replica is free at once for all of them.
 */
const PURGE_GONE_AFTER_TTLS = 10;

/**
 * Shard ownership for one authority replica (DESIGN.md "Sharding", and
 * docs/decisions.md "Per-replica liveness keys"): a lock per shard in KV,
 * created or updated only by compare-and-set when the shard is acquired and
 * deleted when it is handed over; the revision at which a replica took the
 * lock is the shard's epoch. What is renewed every third of the TTL is one
 * liveness key per replica (`alive.<id>`, compare-and-set); a lock is held
 * while its owner's liveness moves. A replica that takes the shards of a
 * silent owner first deletes that owner's liveness key by compare-and-set at
 * the revision it saw, so the owner, if it wakes up, fails its next renewal
 * and drops every shard at once. Replicas see each other through heartbeats
 * and balance by the pure planner in libs/lease. A replica that cannot renew
 * in time stops acting on its shards before anyone else may take them
 * (self-fencing).
 */
export class ShardManager {
  readonly incarnation = randomBytes(6).toString('hex');
  readonly #owned = new Map<number, Owned>();
  /** `shard.<n>` keys as the watch (or our own writes) showed them. */
  readonly #shardKeys = new Map<number, ShardKeyView>();
  /** `alive.<id>` keys as the watch (or our own writes) showed them. */
  readonly #liveness = new Map<string, LivenessView>();
  readonly #members: LeaseTable;
  readonly #leaving = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  /** The liveness renewal in flight; renewals never overlap (two CAS writes of one key would depose ourselves). */
  #renewing: Promise<void> | undefined;
  /** Revision of our own liveness key; undefined until it is written, and again after another replica declared us dead. */
  #liveRevision: number | undefined;
  /** Monotonic time of the last successful liveness write. */
  #liveRenewedAtMs = 0;
  /** Counts our declared deaths: an acquisition that began before one must not stand. */
  #life = 0;
  #hbTimer: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  #stopped = false;
  #watch: { stop(): void } | undefined;
  #watchingSinceMs = 0;
  /** NATS connection state, from the client's status events. */
  #connected = true;
  /** Since when KV writes have been working for us; undefined while they fail. */
  #kvHealthySinceMs: number | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  #lastStallCheckMs = 0;
  #ticking: Promise<void> | undefined;
  /** The purge of deleted liveness keys in flight, and the stream behind the bucket (looked up once). */
  #purging: Promise<void> | undefined;
  #bucketStream: Promise<BucketStream> | undefined;
  /** No purge before this (monotonic): a failed purge is tried again a purge age later, not every round. */
  #purgeNotBeforeMs = 0;
  /** Milliseconds between liveness renewals and between rebalance rounds (a third of the lock TTL). */
  readonly #renewPeriodMs: number;

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
      /** How long a deleted liveness key is seen deleted before it is purged; PURGE_GONE_AFTER_TTLS × TTL unless a test shortens it. */
      readonly purgeGoneAfterMs?: number;
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

  /** Joins: heartbeats, the bucket watch, our liveness key, then a first round of acquisitions before returning. */
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
    this.#watchingSinceMs = this.#now();
    void this.#watchBucket();
    void this.#watchConnection();
    this.#kvHealthySinceMs = this.#now();
    this.#lastStallCheckMs = this.#now();
    this.#stallTimer = setInterval(() => this.#checkStall(), 100);
    await this.#renewLiveness();
    await this.tick();
    const period = this.#renewPeriodMs;
    // Renewal runs on its own clock: a long rebalance (a takeover loading many shards) must not hold it up,
    // and a rebalance must not wait for a renewal either.
    this.#renewTimer = setInterval(() => void this.#renewLiveness(), period);
    const loop = () => {
      this.#timer = setTimeout(() => {
        void this.tick().finally(() => {
          if (!this.#stopped) loop();
        });
      }, period * (0.9 + Math.random() * 0.1));
    };
    loop();
  }

  /**
   * Says we are leaving, hands every shard over, deletes our liveness key, so others take over at once instead of
   * after a TTL.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#hbTimer);
    clearInterval(this.#stallTimer);
    // Leaving first, and again every heartbeat period until the end (a heartbeat is fire-and-forget): from now on the
    // others share the shards without us and take each one as its lock is deleted below. None can be taken earlier:
    // our liveness key is renewed until every shard is handed over, so our locks stay held (decisions.md).
    this.#heartbeat(true);
    this.#hbTimer = setInterval(() => this.#heartbeat(true), this.deps.config.timings.heartbeatIntervalMs);
    // Each step goes on when one before it failed: a round or one shard's hand-over that throws must not leave the
    // other shards held and the liveness key in place (the others would wait a TTL for them).
    const step = async (what: string, run: () => Promise<unknown> | undefined): Promise<void> => {
      try {
        await run();
      } catch (e) {
        this.deps.log.error(`stopping: ${what} failed; going on with the stop`, { err: e });
      }
    };
    try {
      await step('the last round', () => this.#ticking);
      await step('clearing departed liveness keys', () => this.#purging);
      for (const shard of [...this.#owned.keys()]) await step(`the hand-over of shard ${shard}`, () => this.#release(shard));
      // Renewed until every shard is handed over: a hand-over longer than a TTL must not look like death to the others.
      clearInterval(this.#renewTimer);
      await step('the last liveness renewal', () => this.#renewing);
      // Last: a lock whose delete failed above is free at once for the others when our liveness is gone.
      const revision = this.#liveRevision;
      if (revision !== undefined) {
        try {
          await this.deps.kv.delete(aliveKey(this.deps.config.authorityId), { previousSeq: revision });
        } catch (e) {
          this.deps.metrics?.kvError('shards', 'delete');
          this.deps.log.warn('liveness key not deleted; others take what is left a TTL later', { err: e });
        }
      }
    } finally {
      // Whatever failed above, no timer outlives the stop (each would keep publishing and the process alive).
      clearInterval(this.#renewTimer);
      clearInterval(this.#hbTimer);
      this.#heartbeat(true);
      this.#sub?.unsubscribe();
      this.#watch?.stop();
    }
  }

  /** One round: rebalance (liveness renewal runs on its own timer). */
  async tick(): Promise<void> {
    if (this.#ticking) return this.#ticking;
    this.#ticking = this.#round().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /**
   * Renews our liveness key by compare-and-set: one KV write per period,
   * whatever the number of shards held. Writes it first (over whatever an
   * earlier process with our id or a declared death left) when we have none.
   * A lost compare-and-set means another replica declared us dead (or another
   * process has our id): every shard is dropped at once.
   */
  #renewLiveness(): Promise<void> {
    this.#renewing ??= (async () => {
      const key = aliveKey(this.deps.config.authorityId);
      // A death declared while the write is in flight makes its answer stale: it must not bring the revision back.
      const life = this.#life;
      try {
        if (this.#liveRevision === undefined) {
          const e = await this.deps.kv.get(key);
          const revision = e === null ? await this.deps.kv.create(key, this.#livenessValue()) : await this.deps.kv.update(key, this.#livenessValue(), e.revision);
          if (life !== this.#life) return;
          this.#liveRevision = revision;
          this.deps.log.info('liveness key written', { key, revision });
        } else {
          const revision = await this.deps.kv.update(key, this.#livenessValue(), this.#liveRevision);
          if (life !== this.#life) return;
          this.#liveRevision = revision;
        }
        this.#liveRenewedAtMs = this.#now();
        this.#kvWorked();
      } catch (e) {
        // While connected, a failure other than a lost compare-and-set means JetStream itself is electing
        // a leader: nobody else can write either, and others wait a whole TTL of working KV before they may.
        if (isConflict(e)) {
          if (!(await this.#ownWriteApplied(key, life))) this.#declaredDead('liveness key written by another replica');
        } else {
          this.#kvFailed();
          this.deps.log.debug('liveness renewal failed', { err: e });
        }
      }
    })().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /**
   * After a lost compare-and-set on our liveness key: true (and the revision adopted) when the key holds our own
   * incarnation, i.e. an earlier renewal was applied but its answer was lost (a NATS server died mid-request, or the
   * request timed out). A declared death is a deletion, and another process with our id writes another incarnation.
   * Read from the stream leader (the bucket has no direct gets), so the answer is not a lagging replica's.
   */
  async #ownWriteApplied(key: string, life: number): Promise<boolean> {
    try {
      const e = await this.deps.kv.get(key);
      if (e === null || e.operation !== 'PUT' || life !== this.#life || this.#liveRevision === undefined) return false;
      if (store.AuthorityLiveness.decode(e.value).incarnation !== this.incarnation || e.revision < this.#liveRevision) return false;
      this.#liveRevision = e.revision;
      this.deps.log.info('liveness renewal answered late; the key holds our own write', { key, revision: e.revision });
      return true;
    } catch (e) {
      this.deps.log.warn('liveness key not re-read after a lost compare-and-set', { key, err: e });
      return false;
    }
  }

  /** Another replica deleted or overwrote our liveness key: it may be taking our shards right now. */
  #declaredDead(why: string): void {
    if (this.#liveRevision === undefined) return;
    this.#liveRevision = undefined;
    this.#life++;
    this.deps.log.warn('declared dead by another replica; dropping every shard', { why, owned: this.#owned.size });
    this.#loseAll(why);
  }

  async #round(): Promise<void> {
    const ttl = this.deps.config.timings.shardLockTtlMs;
    if (this.#stopped || this.#liveRevision === undefined) return;
    const life = this.#life;
    this.#members.expire(this.#now());
    const members = new Set(this.#members.list().map((l) => l.nodeId));
    for (const id of this.#leaving) members.delete(id);
    members.add(this.deps.config.authorityId);
    // A lock looks abandoned only after a whole TTL in which our own KV access worked: an
    // election in JetStream stops every holder from renewing, and must not look like death.
    const healthySince = this.#kvHealthySinceMs;
    if (healthySince === undefined) return;
    const locks = judgeLocks({ shards: this.#shardKeys, liveness: this.#liveness, healthySinceMs: healthySince, watchingSinceMs: this.#watchingSinceMs });
    let actions = planShards({
      self: this.deps.config.authorityId,
      members: [...members],
      shardCount: this.deps.config.shardCount,
      locks,
      owned: new Set(this.#owned.keys()),
      nowMs: this.#now(),
      lockTtlMs: ttl,
    });
    const alive = new Set<string>();
    for (const [owner, revision] of deathsToDeclare(this.deps.config.authorityId, actions, this.#shardKeys, this.#liveness)) {
      if (!(await this.#declareDeath(owner, revision))) alive.add(owner);
    }
    if (alive.size > 0) actions = actions.filter((a) => a.kind !== 'acquire' || !alive.has(locks.get(a.shard)?.owner ?? ''));
    const before = this.#owned.size;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < actions.length && !this.#stopped) {
        const a = actions[next++];
        if (a === undefined) return;
        if (a.kind === 'acquire') await this.#acquire(a.shard, a.expectedRevision, life);
        else await this.#release(a.shard);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.config.takeoverConcurrency, actions.length) }, worker));
    if (this.#stopped) return;
    await this.#deleteStrays(life);
    this.#clearDeparted();
    if (actions.length > 0) {
      this.deps.log.info('shard ownership changed', { owned: this.#owned.size, before, members: members.size });
    }
  }

  /**
   * Starts clearing departed replicas' liveness keys, unless that is in flight: deletes those left behind by replicas
   * long dead but never declared so (livenessToRetire), and purges the delete markers (livenessToPurge). One key or
   * marker per replica id ever run would otherwise stay in the bucket for good, and every watch would replay them at
   * its start. Not awaited by the round: it decides nothing the round needs.
   */
  #clearDeparted(): void {
    const now = this.#now();
    // Silence heard while our own KV access failed is no evidence of death (as for locks).
    const healthySinceMs = this.#kvHealthySinceMs;
    if (this.#purging !== undefined || this.#stopped || now < this.#purgeNotBeforeMs || healthySinceMs === undefined) return;
    const goneForMs = this.deps.purgeGoneAfterMs ?? PURGE_GONE_AFTER_TTLS * this.deps.config.timings.shardLockTtlMs;
    const input = { self: this.deps.config.authorityId, shards: this.#shardKeys, liveness: this.#liveness, nowMs: now, goneForMs };
    // Never less than two TTLs of silence for a key still there, whatever a test asks: a replica holding no shard
    // renews every third of a TTL, and its key must not be deleted between two renewals.
    const retire = livenessToRetire({ ...input, goneForMs: Math.max(goneForMs, 2 * this.deps.config.timings.shardLockTtlMs), healthySinceMs });
    const purge = livenessToPurge(input);
    if (purge.size === 0 && retire.size === 0) return;
    this.#purging = (async () => {
      const retireFailed = await this.#retireSilent(retire);
      const purgeFailed = await this.#purgeMarkers(purge);
      return retireFailed || purgeFailed;
    })()
      .then((failed) => {
        if (failed) this.#purgeNotBeforeMs = this.#now() + goneForMs;
      })
      .catch((e: unknown) => {
        // Not expected (each step logs its own failures), but never an unhandled rejection: try again later.
        this.#purgeNotBeforeMs = this.#now() + goneForMs;
        this.deps.log.error('clearing departed liveness keys failed', { err: e });
      })
      .finally(() => {
        this.#purging = undefined;
      });
  }

  /**
   * Purges each liveness key's messages up to its delete marker and never beyond (a stream purge bounded by
   * sequence, so a write made after the marker, the same id starting again, stays: the compare-and-set of the
   * marker's revision). Then forgets the key, and the replica's leaving mark, unless the watch brought a newer
   * revision meanwhile. True when a purge failed.
   */
  async #purgeMarkers(purge: ReadonlyMap<string, number>): Promise<boolean> {
    if (purge.size === 0) return false;
    let target: BucketStream;
    try {
      target = await (this.#bucketStream ??= lookUpBucketStream(this.deps.nc, this.deps.kv, Math.max(250, this.#renewPeriodMs)));
    } catch (e) {
      this.#bucketStream = undefined;
      this.deps.log.warn('deleted liveness keys not purged: the bucket\'s stream could not be looked up', { err: e });
      return true;
    }
    let failed = false;
    for (const [id, revision] of purge) {
      if (this.#stopped) break;
      const key = aliveKey(id);
      let purged: number;
      try {
        purged = await purgeKeyUpTo(target, key, revision);
      } catch (e) {
        failed = true;
        this.deps.metrics?.kvError('shards', 'purge');
        this.deps.log.warn('deleted liveness key not purged; tried again later', { key, revision, err: e });
        continue;
      }
      const seen = this.#liveness.get(id);
      if (seen?.kind === 'gone' && seen.revision === revision) {
        this.#liveness.delete(id);
        this.#leaving.delete(id);
      }
      this.deps.log.info('deleted liveness key of a departed replica purged', { key, revision, purged });
    }
    return failed;
  }

  /**
   * Deletes, each by compare-and-set at the revision seen silent, the liveness keys of replicas silent for the purge
   * age that no lock names (see livenessToRetire). True when a delete failed other than by a lost compare-and-set.
   */
  async #retireSilent(retire: ReadonlyMap<string, number>): Promise<boolean> {
    let failed = false;
    for (const [id, revision] of retire) {
      if (this.#stopped) break;
      const key = aliveKey(id);
      try {
        await this.deps.kv.delete(key, { previousSeq: revision });
      } catch (e) {
        if (isConflict(e)) await this.#refreshLiveness(id);
        else {
          failed = true;
          this.#kvFailed();
          this.deps.log.debug('could not delete a silent replica\'s liveness key', { key, err: e });
        }
        continue;
      }
      const seen = this.#liveness.get(id);
      if (seen === undefined || seen.revision <= revision) this.#liveness.set(id, { kind: 'gone', revision: revision + 1, seenAtMs: this.#now() });
      this.deps.log.info('liveness key of a replica long silent and holding no shard deleted', { key, revision });
    }
    return failed;
  }

  /**
   * Makes a silent owner's death explicit: deletes its liveness key by
   * compare-and-set at the revision we saw silent for a TTL. False when it
   * renewed meanwhile (or KV failed): none of its shards may be taken now.
   * True also when another replica deleted it first.
   */
  async #declareDeath(owner: string, revision: number): Promise<boolean> {
    try {
      await this.deps.kv.delete(aliveKey(owner), { previousSeq: revision });
      this.#kvWorked();
    } catch (e) {
      if (isConflict(e)) {
        await this.#refreshLiveness(owner);
        // Another replica declared the same death first: its shards are free now, for us too.
        if (this.#liveness.get(owner)?.kind === 'gone') return true;
        this.deps.log.info('a silent replica renewed its liveness after all; its shards stay', { owner });
      } else {
        this.#kvFailed();
        this.deps.log.debug('could not declare a silent replica dead', { owner, err: e });
      }
      return false;
    }
    const seen = this.#liveness.get(owner);
    // revision + 1 is a floor (the stream's sequence is shared by every key): the watch brings the marker's own revision.
    if (seen === undefined || seen.revision <= revision) this.#liveness.set(owner, { kind: 'gone', revision: revision + 1, seenAtMs: this.#now() });
    this.deps.log.warn('declared a silent replica dead; taking its shards', { owner });
    return true;
  }

  async #acquire(shard: number, expectedRevision: number, life: number): Promise<void> {
    const value = this.#lockValue();
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
    const seen = this.#shardKeys.get(shard);
    if (seen !== undefined && seen.revision > revision) {
      // Written again by someone else before our write was acknowledged.
      this.deps.log.warn('shard lock taken again before its acquisition was acknowledged', { shard, epoch: revision });
      return;
    }
    this.#shardKeys.set(shard, { owner: this.deps.config.authorityId, revision, seenAtMs: this.#now(), ownerLiveness: true });
    if (life !== this.#life || this.#liveRevision === undefined || this.#stopped) {
      // Declared dead (or stopping) while acquiring: others may take it at once; do not start acting on it.
      this.deps.log.warn('shard acquired after our liveness was lost; giving it back', { shard });
      await this.#deleteLock(shard, revision);
      return;
    }
    this.#owned.set(shard, { epoch: revision });
    this.deps.metrics?.shardChanged('acquired');
    this.deps.log.debug('shard acquired', { shard, epoch: revision });
    try {
      await this.deps.callbacks.acquired(shard, revision);
    } catch (e) {
      this.deps.log.error('shard takeover failed; giving it back', { shard, err: e });
      await this.#release(shard);
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
    if (await this.#deleteLock(shard, o.epoch)) this.deps.log.debug('shard released', { shard, epoch: o.epoch });
  }

  /** Deletes a lock we wrote at `revision`, by compare-and-set; false (logged) when it did not happen. */
  async #deleteLock(shard: number, revision: number): Promise<boolean> {
    try {
      await this.deps.kv.delete(lockKey(shard), { previousSeq: revision });
    } catch (e) {
      if (isConflict(e)) {
        this.deps.log.debug('shard lock changed before its delete; left to its new owner', { shard });
        await this.#refreshLock(shard);
      } else {
        this.deps.metrics?.kvError('shards', 'delete');
        this.deps.log.warn('shard lock not deleted; deleted at a later round', { shard, err: e });
      }
      return false;
    }
    if (this.#shardKeys.get(shard)?.revision === revision) this.#shardKeys.delete(shard);
    return true;
  }

  /**
   * Locks naming us that we do not act on (a release whose delete failed, shards
   * dropped on a stall or a disconnection and not taken back by the planner
   * because we hold our share, a restart's leftovers): while our liveness is
   * renewed nobody else would ever take them, so they are deleted, each by
   * compare-and-set at the revision we saw.
   */
  async #deleteStrays(life: number): Promise<void> {
    const self = this.deps.config.authorityId;
    const strays = [...this.#shardKeys].filter(([shard, key]) => key.owner === self && !this.#owned.has(shard)).map(([shard, key]) => [shard, key.revision] as const);
    for (const [shard, revision] of strays) {
      if (this.#stopped || life !== this.#life) return;
      if (this.#owned.has(shard)) continue;
      if (await this.#deleteLock(shard, revision)) this.deps.log.info('stray shard lock deleted', { shard });
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
      // Never older than what we know, as for liveness keys (the watch may have brought a newer revision meanwhile).
      if (e !== null && e.revision <= (this.#shardKeys.get(shard)?.revision ?? 0)) return;
      if (e === null || e.operation !== 'PUT') this.#shardKeys.delete(shard);
      else this.#shardKeys.set(shard, shardKeyView(e.value, e.revision, this.#now()));
    } catch {
      // The next round tries again.
    }
  }

  /** Re-reads one liveness key after a declared death was refused. */
  async #refreshLiveness(owner: string): Promise<void> {
    try {
      const e = await this.deps.kv.get(aliveKey(owner));
      const known = this.#liveness.get(owner)?.revision ?? 0;
      // Never older than what we know (the watch may have brought a newer revision meanwhile).
      if (e === null) this.#liveness.delete(owner);
      else if (e.revision <= known) return;
      else if (e.operation !== 'PUT') this.#liveness.set(owner, { kind: 'gone', revision: e.revision, seenAtMs: this.#now() });
      else this.#liveness.set(owner, { kind: 'alive', revision: e.revision, seenAtMs: this.#now() });
    } catch {
      // The next round tries again.
    }
  }

  /**
   * A replica that was paused (SIGSTOP, a long GC) for most of a TTL cannot
   * know whether its shards were taken meanwhile: it stops acting on all of
   * them at once and takes them back by compare-and-set, which succeeds
   * only if nobody else did. Cut off from NATS, it stops acting well before
   * others may take its shards: when its liveness has not been renewed for
   * 0.75 × TTL.
   */
  #checkStall(): void {
    const now = this.#now();
    const gap = now - this.#lastStallCheckMs;
    this.#lastStallCheckMs = now;
    if (this.#owned.size === 0) return;
    const ttl = this.deps.config.timings.shardLockTtlMs;
    if (gap >= ttl * 0.75) {
      this.deps.log.warn('stalled; putting every shard in doubt', { stalledMs: Math.round(gap) });
      this.#loseAll('stalled');
    } else if (!this.#connected && now - this.#liveRenewedAtMs > ttl * 0.75) {
      this.#loseAll('liveness not renewed while disconnected');
    }
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

  #loseAll(why: string): void {
    for (const shard of [...this.#owned.keys()]) this.#lose(shard, why);
  }

  /**
   * Follows every key of the bucket (nats-server 2.9 takes one filter per
   * watch): shard locks, decoded only when their revision moves, and
   * liveness keys, whose revisions are all that is read. A write to a lock
   * we hold, after our acquisition, means someone else holds it now: we stop
   * acting on it at once.
   */
  /**
   * Follows the bucket until stop. A watch that cannot be created (JetStream electing a leader, a request timed out)
   * or that ends is made again: a replica without it would never see its locks taken. The new watch replays every
   * key; what is not newer than what we saw changes nothing.
   */
  async #watchBucket(): Promise<void> {
    const self = this.deps.config.authorityId;
    while (!this.#stopped) {
      try {
        const watch = await this.deps.kv.watch({ key: '>' });
        this.#watch = watch;
        if (this.#stopped) watch.stop();
        for await (const e of watch) {
          if (e.key.startsWith(ALIVE_PREFIX)) this.#sawLiveness(e.key.slice(ALIVE_PREFIX.length), e.revision, e.operation === 'PUT', self);
          else if (e.key.startsWith(LOCK_PREFIX)) {
            const shard = Number(e.key.slice(LOCK_PREFIX.length));
            if (Number.isInteger(shard)) this.#sawLock(shard, e.revision, e.operation === 'PUT' ? e.value : undefined);
          }
          if (this.#stopped) break;
        }
        if (!this.#stopped) this.deps.log.warn('shard bucket watch ended; watching again');
      } catch (e) {
        if (this.#stopped) return;
        this.deps.log.warn('shard bucket watch failed; watching again', { err: e });
        await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
      }
    }
  }

  #sawLiveness(id: string, revision: number, put: boolean, self: string): void {
    const prev = this.#liveness.get(id);
    if (prev !== undefined && prev.revision >= revision) return;
    if (put) this.#liveness.set(id, { kind: 'alive', revision, seenAtMs: this.#now() });
    else {
      this.#liveness.set(id, { kind: 'gone', revision, seenAtMs: this.#now() });
      // Only stop() deletes our own key; a deletion while running is another replica declaring us dead.
      // (Our own renewals' echoes are not compared: one can arrive before the write's acknowledgement.)
      if (id === self && !this.#stopped && this.#liveRevision !== undefined && revision > this.#liveRevision) {
        this.#declaredDead('liveness key deleted by another replica');
      }
    }
  }

  #sawLock(shard: number, revision: number, value: Uint8Array | undefined): void {
    const prev = this.#shardKeys.get(shard);
    // Never older than what we know: a late echo of an earlier owner's write must not hide our own newer one.
    if (prev !== undefined && prev.revision >= revision) return;
    const o = this.#owned.get(shard);
    if (o !== undefined && revision > o.epoch) this.#lose(shard, value === undefined ? 'lock deleted by another replica' : 'lock taken by another replica');
    if (value === undefined) {
      this.#shardKeys.delete(shard);
      return;
    }
    try {
      this.#shardKeys.set(shard, shardKeyView(value, revision, this.#now()));
    } catch (err) {
      this.deps.log.warn('unreadable shard lock', { shard, err });
    }
  }

  #heartbeat(leaving: boolean): void {
    const hb: cluster.AuthorityHeartbeat = {
      authorityId: this.deps.config.authorityId, incarnation: this.incarnation, shardsOwned: this.#owned.size, leaving,
    };
    this.deps.nc.publish(this.deps.subjects.authorityHeartbeat(this.deps.config.authorityId), cluster.AuthorityHeartbeat.encode(hb).finish());
  }

  #lockValue(): Uint8Array {
    return store.ShardLock.encode({ ownerId: this.deps.config.authorityId, epoch: 0, renewedAtUnixMs: Date.now(), ownerLiveness: true }).finish();
  }

  #livenessValue(): Uint8Array {
    return store.AuthorityLiveness.encode({ authorityId: this.deps.config.authorityId, incarnation: this.incarnation, renewedAtUnixMs: Date.now() }).finish();
  }

  #now(): number {
    return this.deps.now?.() ?? performance.now();
  }
}

/** A compare-and-set lost: someone else wrote the key. */
function isConflict(e: unknown): boolean {
  return /wrong last sequence|key exists/i.test(String(e));
}

function shardKeyView(value: Uint8Array, revision: number, seenAtMs: number): ShardKeyView {
  const lock = store.ShardLock.decode(value);
  return { owner: lock.ownerId, revision, seenAtMs, ownerLiveness: lock.ownerLiveness };
}
