import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@vigil/cluster';
import { store } from '@vigil/proto';
import { openShardLocks } from '@vigil/store';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { readAuthorityConfig } from './config.js';
import { ShardManager, lookUpBucketStream, purgeKeyUpTo } from './shard-manager.js';

// Replicas' shard locks against a real nats-server (docs/decisions.md
// "Per-replica liveness keys"): a replica renews one liveness key and never
// its locks; a lock written by someone else is dropped at once; a silent
// owner's liveness key is deleted before its shards are taken; a replica
// declared dead drops every shard at once; locks naming a replica that does
// not act on them are deleted so others can take them.
const SHARDS = 32;
const TTL_MS = 1500;

describe('shard manager', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let locks: KV;
  let n = 0;
  const running: ShardManager[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  beforeEach(async () => {
    await Promise.all(running.splice(0).map((m) => m.stop()));
    // A fresh bucket per test: no lock or liveness key left by the one before.
    await locks?.destroy();
    locks = await openShardLocks(nc, { lockTtlMs: TTL_MS });
  });
  after(async () => {
    await Promise.all(running.splice(0).map((m) => m.stop()));
    await nc.close();
    await server.stop();
  });

  const start = async (
    id = `a${++n}`,
    releasing: (shard: number) => Promise<void> = async () => undefined,
    more: { env?: Record<string, string>; acquired?: (shard: number) => void; purgeGoneAfterMs?: number } = {},
  ) => {
    const config = readAuthorityConfig({ VIGIL_AUTHORITY_ID: id, VIGIL_SHARD_COUNT: String(SHARDS), VIGIL_SHARD_LOCK_TTL_MS: String(TTL_MS), ...more.env });
    const lost: { shard: number; why: string }[] = [];
    const manager = new ShardManager({
      nc, kv: locks, subjects: subjects('vigil'), config, log: createLogger({ service: 'test' }, { level: 'error' }), purgeGoneAfterMs: more.purgeGoneAfterMs,
      callbacks: { acquired: async (shard) => more.acquired?.(shard), releasing, lost: (shard, why) => lost.push({ shard, why }) },
    });
    await manager.start();
    running.push(manager);
    return { id, manager, lost };
  };
  const stop = async (manager: ShardManager) => {
    running.splice(running.indexOf(manager), 1);
    await manager.stop();
  };

  /** Every lock as it stands: owner and revision by shard. */
  const lockTable = async (): Promise<Map<number, { owner: string; revision: number; ownerLiveness: boolean }>> => {
    const out = new Map<number, { owner: string; revision: number; ownerLiveness: boolean }>();
    for (let shard = 0; shard < SHARDS; shard++) {
      const e = await locks.get(`shard.${shard}`);
      if (e !== null && e.operation === 'PUT') {
        const lock = store.ShardLock.decode(e.value);
        out.set(shard, { owner: lock.ownerId, revision: e.revision, ownerLiveness: lock.ownerLiveness });
      }
    }
    return out;
  };
  const liveness = async (id: string) => locks.get(`alive.${id}`);
  const lockValue = (ownerId: string, ownerLiveness = true) => store.ShardLock.encode({ ownerId, epoch: 0, renewedAtUnixMs: Date.now(), ownerLiveness }).finish();
  const livenessValue = (authorityId: string) => store.AuthorityLiveness.encode({ authorityId, incarnation: 'x', renewedAtUnixMs: Date.now() }).finish();

  const until = async (what: string, check: () => Promise<boolean> | boolean) => {
    let over = false;
    try {
      await withDeadline(
        (async () => {
          while (!over && !(await check())) await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        what,
      );
    } finally {
      over = true; // a failed wait stops polling, so the test process can end
    }
  };

  test('a replica renews its liveness key, never its locks; stop deletes every lock and the liveness key', async () => {
    const { id, manager, lost } = await start();
    assert.equal(manager.owned.size, SHARDS);
    const first = await lockTable();
    assert.equal(first.size, SHARDS);
    for (const [shard, lock] of first) {
      assert.equal(lock.owner, id);
      assert.equal(lock.ownerLiveness, true);
      assert.equal(manager.epochOf(shard), lock.revision, 'the epoch is the revision of the acquisition');
    }
    // Three renewals of the liveness key: a whole TTL.
    const r0 = (await liveness(id))?.revision ?? 0;
    let r = r0;
    for (let i = 0; i < 3; i++) {
      const prev = r;
      await until('the liveness key renewed', async () => {
        r = (await liveness(id))?.revision ?? 0;
        return r > prev;
      });
    }
    assert.deepEqual(await lockTable(), first, 'no lock was written while the liveness key was renewed');
    await stop(manager);
    assert.equal((await lockTable()).size, 0, 'every lock deleted');
    assert.notEqual((await liveness(id))?.operation, 'PUT', 'liveness key deleted');
    assert.deepEqual(lost, []);
  });

  test('a lock written by another replica is dropped at once, before any renewal could notice', async () => {
    const { manager, lost } = await start();
    const shard = 3;
    const e = await locks.get(`shard.${shard}`);
    assert.ok(e !== null);
    await locks.update(`shard.${shard}`, lockValue('intruder'), e.revision);
    await until('the shard given up', () => manager.epochOf(shard) === undefined);
    assert.deepEqual(lost, [{ shard, why: 'lock taken by another replica' }]);
  });

  test("a silent owner's liveness key is deleted before its shards are taken", async () => {
    // A replica that wrote its liveness and its locks, then went silent (paused, or killed).
    await locks.create('alive.ghost', livenessValue('ghost'));
    for (let shard = 0; shard < SHARDS; shard++) await locks.create(`shard.${shard}`, lockValue('ghost'));
    const { id, manager } = await start();
    await until('every shard taken', () => manager.owned.size === SHARDS);
    const ghost = await liveness('ghost');
    assert.ok(ghost !== null && ghost.operation === 'DEL', 'the silent owner was declared dead by deleting its liveness key');
    // The ghost waking up cannot renew: its compare-and-set at the revision it knew fails.
    await assert.rejects(locks.update('alive.ghost', livenessValue('ghost'), ghost.revision - 1), /wrong last sequence/);
    for (const [shard, lock] of await lockTable()) assert.equal(lock.owner, id, `shard ${shard}`);
  });

  test('a replica declared dead drops every shard at once, then writes its liveness again and takes its shards back', async () => {
    const { id, manager, lost } = await start();
    const e = await liveness(id);
    assert.ok(e !== null);
    const epochs = new Map([...manager.owned].map(([s, o]) => [s, o.epoch]));
    // What another replica does when it finds us silent for a TTL.
    await locks.delete(`alive.${id}`, { previousSeq: e.revision });
    await until('every shard dropped', () => lost.length === SHARDS);
    assert.ok(lost.every((l) => l.why === 'liveness key deleted by another replica'), JSON.stringify(lost[0]));
    await until('liveness written again', async () => (await liveness(id))?.operation === 'PUT');
    await until('every shard taken back', () => manager.owned.size === SHARDS);
    for (const [shard, epoch] of epochs) assert.ok((manager.epochOf(shard) ?? 0) > epoch, `shard ${shard} has a new epoch`);
  });

  test('a liveness key overwritten by another process fails the next renewal: every shard dropped', async () => {
    const { id, manager, lost } = await start();
    const e = await liveness(id);
    assert.ok(e !== null);
    await locks.update(`alive.${id}`, livenessValue(id), e.revision);
    await until('every shard dropped', () => lost.length === SHARDS);
    assert.ok(lost.every((l) => l.why === 'liveness key written by another replica'), JSON.stringify(lost[0]));
    await until('every shard taken back', () => manager.owned.size === SHARDS);
  });

  test('a replica keeps renewing its liveness while it hands its shards over on stop', async () => {
    let handOver: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (handOver = resolve));
    let first = true;
    // The first shard's hand-over waits until the test has seen renewals during the stop.
    const { id, manager } = await start(undefined, async () => {
      if (first) {
        first = false;
        await held;
      }
    });
    const atStop = (await liveness(id))?.revision ?? 0;
    const stopped = stop(manager);
    try {
      await until('liveness renewed twice during the hand-over', async () => ((await liveness(id))?.revision ?? 0) > atStop + 1);
    } finally {
      handOver();
      await stopped;
    }
    assert.equal((await liveness(id))?.operation, 'DEL', 'the liveness key is deleted once every shard is handed over');
  });

  test('a renewal applied whose answer was lost is recognised by its incarnation: nothing is dropped', async () => {
    const { id, manager, lost } = await start();
    const e = await liveness(id);
    assert.ok(e !== null);
    // What the bucket holds when our own renewal was applied but its answer never came back.
    const ours = store.AuthorityLiveness.encode({ authorityId: id, incarnation: manager.incarnation, renewedAtUnixMs: Date.now() }).finish();
    const applied = await locks.update(`alive.${id}`, ours, e.revision);
    await until('two renewals after it', async () => ((await liveness(id))?.revision ?? 0) > applied + 1);
    assert.equal(lost.length, 0, JSON.stringify(lost[0]));
    assert.equal(manager.owned.size, SHARDS);
  });

  test('a lock from the version that renews every lock is held while it moves, and taken without a liveness key once it stops', async () => {
    // An older replica "old" renews its lock itself, as that version did, and has no liveness key.
    let revision = await locks.create('shard.0', lockValue('old', false));
    const { id, manager } = await start();
    assert.equal(manager.owned.size, SHARDS - 1);
    // Renewed every fifth of a TTL for two TTLs: each renewal is a compare-and-set that fails if the lock was taken.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, TTL_MS / 5));
      revision = await locks.update('shard.0', lockValue('old', false), revision);
    }
    assert.equal(manager.epochOf(0), undefined);
    await until('the stale lock taken', () => manager.owned.size === SHARDS);
    const lock = (await lockTable()).get(0);
    assert.equal(lock?.owner, id);
    assert.equal(lock?.ownerLiveness, true);
  });

  test('a lock naming a live replica that does not act on it is deleted by that replica, so another can take it', async () => {
    const a = await start();
    const b = await start();
    await until('both hold half', () => a.manager.owned.size === SHARDS / 2 && b.manager.owned.size === SHARDS / 2);
    // One of b's locks now names a, which holds its share already (as a hand-over whose delete failed leaves it).
    const [shard] = [...b.manager.owned.keys()];
    assert.ok(shard !== undefined);
    const e = await locks.get(`shard.${shard}`);
    assert.ok(e !== null);
    await locks.update(`shard.${shard}`, lockValue(a.id), e.revision);
    await until('b drops it', () => b.manager.epochOf(shard) === undefined);
    // a's liveness is renewed, so b may not take a lock naming a: only a deleting it lets b have it back.
    await until('b holds it again', () => b.manager.epochOf(shard) !== undefined);
    assert.equal(a.manager.owned.size, SHARDS / 2);
    assert.deepEqual(a.lost, []);
  });

  test('a purge up to a delete marker removes it, and never a later write of the key', async () => {
    const target = await lookUpBucketStream(nc, locks, 1000);
    const first = await locks.create('alive.again', livenessValue('again'));
    await locks.delete('alive.again', { previousSeq: first });
    const marker = await liveness('again');
    assert.ok(marker !== null && marker.operation === 'DEL');
    // The same id started again after the marker was judged purgeable: its write must stay.
    const fresh = await locks.create('alive.again', livenessValue('again'));
    assert.equal(await purgeKeyUpTo(target, 'alive.again', marker.revision), 0);
    assert.equal((await liveness('again'))?.revision, fresh);
    await locks.delete('alive.again', { previousSeq: fresh });
    const second = await liveness('again');
    assert.ok(second !== null && second.operation === 'DEL');
    assert.equal(await purgeKeyUpTo(target, 'alive.again', second.revision), 1);
    assert.equal(await liveness('again'), null);
    // A purged key refuses the compare-and-set of whoever still knows a revision of it, as a deleted one does.
    await assert.rejects(locks.update('alive.again', livenessValue('again'), fresh), /wrong last sequence/);
  });

  test("a departed replica's deleted liveness key is purged once no lock names it; the same id can start again", async () => {
    // Two replicas that ran before: "gone" stopped; "held" was declared dead, and a lock (of a shard beyond the
    // count, which nobody takes) still names it.
    const gone = await locks.create('alive.gone', livenessValue('gone'));
    await locks.delete('alive.gone', { previousSeq: gone });
    const held = await locks.create('alive.held', livenessValue('held'));
    await locks.delete('alive.held', { previousSeq: held });
    const stray = await locks.create(`shard.${SHARDS + 7}`, lockValue('held'));
    await start(undefined, undefined, { purgeGoneAfterMs: 300 });
    await until('the marker of the departed replica purged', async () => (await liveness('gone')) === null);
    // Two more renewal periods: "held" stays deleted (not purged) while a lock names it.
    const markerSeen = await liveness('held');
    await new Promise((r) => setTimeout(r, (2 * TTL_MS) / 3));
    assert.equal((await liveness('held'))?.operation, 'DEL', 'a marker whose replica a lock still names stays');
    assert.equal((await liveness('held'))?.revision, markerSeen?.revision);
    await locks.delete(`shard.${SHARDS + 7}`, { previousSeq: stray });
    // Deleting the lock leaves a marker of its own (a lock key, not purged); the liveness marker goes.
    await until('the marker purged once no lock names its replica', async () => (await liveness('held')) === null);
    // A replica starting again with a purged id writes its key afresh (create succeeds on a purged key).
    const back = await start('gone');
    await until('the returning replica holds shards', () => back.manager.owned.size > 0);
    assert.equal((await liveness('gone'))?.operation, 'PUT');
  });

  test('the liveness key of a replica killed while it held no shard is deleted once long silent, then purged', async () => {
    await locks.create('alive.crashed', livenessValue('crashed'));
    const live = await start(undefined, undefined, { purgeGoneAfterMs: 300 });
    await until('the silent key deleted and its marker purged', async () => (await liveness('crashed')) === null);
    assert.equal((await liveness(live.id))?.operation, 'PUT', 'our own key stays');
  });

  test('a stopping replica says it is leaving before it hands over: others take each shard as it is released, never while it still acts on it', async () => {
    // A node lease far longer than the test: without the leaving heartbeat, the others would count the stopping
    // replica in the fair share until the end of its hand-over.
    const env = { VIGIL_NODE_LEASE_MS: '60000' };
    const acting = new Map<number, Set<string>>();
    const overlaps: string[] = [];
    const act = (id: string) => (shard: number) => {
      const set = acting.get(shard) ?? new Set<string>();
      if (set.size > 0) overlaps.push(`shard ${shard}: ${id} acquired while ${[...set].join(',')} acted on it`);
      set.add(id);
      acting.set(shard, set);
    };
    const a = await start('left', async (shard) => {
      acting.get(shard)?.delete('left');
    }, { env, acquired: act('left') });
    let releasedFreely = 4;
    let handOver: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (handOver = resolve));
    const b = await start('right', async (shard) => {
      if (releasedFreely-- <= 0) await held;
      acting.get(shard)?.delete('right');
    }, { env, acquired: act('right') });
    await until('both hold half', () => a.manager.owned.size === SHARDS / 2 && b.manager.owned.size === SHARDS / 2);
    const stopped = stop(b.manager);
    try {
      // b has released four shards and waits on the fifth: a takes the four while b still holds the rest.
      await until('the other replica takes the released shards during the hand-over', () => a.manager.owned.size === SHARDS / 2 + 4);
      assert.equal(b.manager.owned.size, SHARDS / 2 - 4, 'the hand-over is still under way');
      assert.equal(a.manager.members().includes('right'), false, 'the stopping replica is out of the fair share');
    } finally {
      handOver();
      await stopped;
    }
    await until('every shard with the remaining replica', () => a.manager.owned.size === SHARDS);
    assert.deepEqual(overlaps, []);
    assert.deepEqual(a.lost, []);
  });
});
