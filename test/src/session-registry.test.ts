import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStores, type SessionStore } from '@vigil/store';
import type { store } from '@vigil/proto';
import { eventually, startNatsCluster, type NatsCluster } from '@vigil/testkit';

// A new shard owner reads the durable session registry and announces what it
// finds; an entry it does not see is a session nobody will ever announce.
// In a replicated 3-server cluster with writes going on elsewhere in the
// bucket, the KV client's key listing came back short (sometimes empty) in a
// few percent of reads on nats-server 2.9; the store must list every entry.
let cluster: NatsCluster;
let nc: NatsConnection;
let sessions: SessionStore;

before(async () => {
  cluster = await startNatsCluster(3);
  nc = await connect({ servers: cluster.urls.split(',') });
  // JetStream's meta leader may take a few seconds to be elected after the servers are up.
  sessions = (await eventually(() => openStores(nc, { replicas: 3 }), 60_000, 'replicated buckets')).sessions;
});

after(async () => {
  await nc?.close();
  await cluster?.stop();
});

function entry(shard: number, id: string): store.StoredSession {
  return {
    session: { sessionId: id, fullJid: `u-${id}@localhost/r`, nodeId: 'node-1', incarnation: 'i1' },
    available: true, presenceXml: '<presence/>', priority: 0, directedTo: [], presenceErrorsFrom: [], epoch: shard + 1, presenceSeq: 1, availableSinceUnixMs: 0,
  };
}

test('every stored session of a shard is loaded, also while other shards are written', async () => {
  const SHARDS = 24;
  const PER_SHARD = 12;
  const expected = new Map<number, Map<string, number>>();
  for (let shard = 0; shard < SHARDS; shard++) {
    const ids = new Map<string, number>();
    await Promise.all(Array.from({ length: PER_SHARD }, async (_, i) => ids.set(`s${shard}x${i}`, await sessions.save(shard, entry(shard, `s${shard}x${i}`), 0))));
    // A few ended sessions: erased entries must not come back.
    for (const id of [...ids.keys()].slice(0, 3)) {
      await sessions.remove(shard, id, ids.get(id) ?? 0);
      ids.delete(id);
    }
    expected.set(shard, ids);
  }
  // Other shards' owners keep writing (a bounded number of writes each).
  let stop = false;
  let writes = 0;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < 200_000 && !stop; i++) {
      const shard = SHARDS + ((w * 7 + i) % 32);
      await sessions.save(shard, entry(shard, `w${w}x${i % 50}`), 0).catch(() => undefined);
      const current = await sessions.read(shard, `w${w}x${i % 50}`);
      if (current) await sessions.save(shard, entry(shard, `w${w}x${i % 50}`), current.revision).catch(() => undefined);
      writes++;
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  try {
    for (let round = 0; round < 6; round++) {
      await Promise.all([...expected].map(async ([shard, ids]) => {
        const loaded = await sessions.load(shard);
        const got = new Map(loaded.map((e) => [e.value.session?.sessionId ?? '', e.revision]));
        assert.deepEqual(got, ids, `shard ${shard}, round ${round}: loaded ${got.size} of ${ids.size} entries`);
      }));
    }
  } finally {
    stop = true;
    await Promise.all(writers);
  }
  assert.ok(writes > 0, 'the other shards were written meanwhile');
});

test('an erase is a compare-and-set on the revision and leaves no key behind', async () => {
  const first = await sessions.save(200, entry(200, 'cas'), 0);
  const second = await sessions.save(200, entry(200, 'cas'), first);
  await assert.rejects(sessions.remove(200, 'cas', first), /revision|sequence|conflict|not deleted|no message/i);
  assert.equal((await sessions.read(200, 'cas'))?.revision, second, 'a stale erase changed nothing');
  await sessions.remove(200, 'cas', second);
  assert.equal(await sessions.read(200, 'cas'), undefined);
  assert.deepEqual(await sessions.keys(200), [], 'no tombstone is listed');
  // A fresh entry under the same key can be created again.
  assert.ok((await sessions.save(200, entry(200, 'cas'), 0)) > second);
});
