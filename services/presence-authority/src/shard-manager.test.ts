import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@vigil/cluster';
import { store } from '@vigil/proto';
import { openShardLocks } from '@vigil/store';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { readAuthorityConfig } from './config.js';
import { ShardManager } from './shard-manager.js';

// One replica's shard locks against a real nats-server: renewals spread over
// the renewal period must still renew every lock, and neither a hand-over in
// the middle of a round nor a lock taken by someone else may go unnoticed.
const SHARDS = 32;
const TTL_MS = 1500;

describe('shard manager', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let locks: KV;
  let n = 0;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    locks = await openShardLocks(nc, { lockTtlMs: TTL_MS });
  });
  after(async () => {
    await nc.close();
    await server.stop();
  });

  const start = async () => {
    const config = readAuthorityConfig({ VIGIL_AUTHORITY_ID: `a${++n}`, VIGIL_SHARD_COUNT: String(SHARDS), VIGIL_SHARD_LOCK_TTL_MS: String(TTL_MS) });
    const lost: { shard: number; why: string }[] = [];
    const manager = new ShardManager({
      nc, kv: locks, subjects: subjects('vigil'), config, log: createLogger({ service: 'test' }, { level: 'error' }),
      callbacks: { acquired: async () => undefined, releasing: async () => undefined, lost: (shard, why) => lost.push({ shard, why }) },
    });
    await manager.start();
    return { manager, lost };
  };

  const revisions = async (): Promise<Map<number, number>> => {
    const out = new Map<number, number>();
    for (let shard = 0; shard < SHARDS; shard++) {
      const e = await locks.get(`shard.${shard}`);
      if (e !== null && e.operation === 'PUT') out.set(shard, e.revision);
    }
    return out;
  };

  const eventually = async (what: string, check: () => Promise<boolean>) => {
    await withDeadline(
      (async () => {
        while (!(await check())) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      what,
    );
  };

  test('every owned lock keeps being renewed, round after round, and a stop in the middle of a round deletes every lock', async () => {
    const { manager, lost } = await start();
    assert.equal(manager.owned.size, SHARDS);
    // Two whole rounds: every lock's revision moves past the one seen now, twice.
    const first = await revisions();
    assert.equal(first.size, SHARDS);
    let second = new Map<number, number>();
    await eventually('every lock renewed once', async () => {
      second = await revisions();
      return [...first].every(([shard, rev]) => (second.get(shard) ?? 0) > rev);
    });
    await eventually('every lock renewed again', async () => {
      const third = await revisions();
      return [...second].every(([shard, rev]) => (third.get(shard) ?? 0) > rev);
    });
    // Epochs do not move with renewals.
    for (const [shard, o] of manager.owned) assert.equal(o.epoch, manager.epochOf(shard));
    // Stop as soon as a round has begun (the first lock of the round moved): the rest of it is skipped and
    // every lock is deleted at the revision its last renewal left.
    const before = await revisions();
    await eventually('a round begins', async () => {
      const now = await revisions();
      return [...before].some(([shard, rev]) => (now.get(shard) ?? 0) > rev);
    });
    await manager.stop();
    assert.equal((await revisions()).size, 0, 'every lock deleted');
    assert.deepEqual(lost, []);
  });

  test('a lock written by another replica is given up at its next renewal', async () => {
    const { manager, lost } = await start();
    const shard = 3;
    const e = await locks.get(`shard.${shard}`);
    assert.ok(e !== null);
    await locks.update(`shard.${shard}`, store.ShardLock.encode({ ownerId: 'intruder', epoch: 0, renewedAtUnixMs: Date.now() }).finish(), e.revision);
    await eventually('the shard given up', async () => manager.epochOf(shard) === undefined);
    assert.deepEqual(lost, [{ shard, why: 'lock taken by another replica' }]);
    await manager.stop();
    await locks.delete(`shard.${shard}`);
  });
});
