import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStores, type SessionStore } from '@vigil/store';
import { startNatsServer, type NatsServer } from '@vigil/testkit';
import { KvSessionJournal, toStored } from './journal.js';
import type { SessionRecord } from './registry.js';

// The journal's compare-and-set repairs its own stale revision (a write that
// timed out yet landed) but still loses to a successor with a higher epoch.
let server: NatsServer;
let nc: NatsConnection;
let sessions: SessionStore;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  sessions = (await openStores(nc)).sessions;
});

after(async () => {
  await nc?.close();
  await server?.stop();
});

function record(id: string, shard: number): SessionRecord {
  return {
    sessionId: id, fullJid: `u${id}@localhost/r`, bareJid: `u${id}@localhost`, shard, nodeId: 'n1', incarnation: 'i1',
    available: true, presenceXml: '<presence/>', priority: 0, presenceSeq: 1, availableSinceUnixMs: 0,
    directedTo: new Set(), presenceErrorsFrom: new Set(),
  };
}

test('a write behind its own stale revision is repaired while the shard is still owned at the same epoch', async () => {
  const errors: unknown[] = [];
  const journal = new KvSessionJournal(sessions, () => 5, (e) => errors.push(e));
  const r = record('a', 1);
  journal.save(r);
  await journal.flush();
  // Our previous write landed twice as far as the store knows (a timed-out retry): the revision moved on.
  const stored = await sessions.read(1, 'a');
  assert.ok(stored);
  await sessions.save(1, toStored(r, 5), stored.revision);
  r.priority = 7;
  journal.save(r);
  await journal.flush();
  assert.deepEqual(errors, []);
  assert.equal((await sessions.read(1, 'a'))?.value.priority, 7);
  journal.drop(r);
  await journal.flush();
  assert.equal(await sessions.read(1, 'a'), undefined);
});

test("a successor's entry (higher epoch) is never overwritten, and an erased one is never resurrected", async () => {
  const errors: unknown[] = [];
  const journal = new KvSessionJournal(sessions, () => 5, (e) => errors.push(e));
  const r = record('b', 2);
  journal.save(r);
  await journal.flush();
  const stored = await sessions.read(2, 'b');
  assert.ok(stored);
  await sessions.save(2, { ...toStored(r, 9), priority: 3 }, stored.revision); // the successor, epoch 9
  r.priority = 1;
  journal.save(r);
  await journal.flush();
  assert.equal(errors.length, 1);
  assert.equal((await sessions.read(2, 'b'))?.value.priority, 3);

  const gone = record('c', 3);
  journal.save(gone);
  await journal.flush();
  const c = await sessions.read(3, 'c');
  assert.ok(c);
  await sessions.remove(3, 'c', c.revision); // erased by someone else
  gone.priority = 2;
  journal.save(gone);
  await journal.flush();
  assert.equal(errors.length, 2);
  assert.equal(await sessions.read(3, 'c'), undefined);
});
