import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MissingBucketError, openStores } from '@vigil/store';
import { startNatsServer, type NatsServer } from '@vigil/testkit';

// Connection nodes only open the durable buckets; authorities create them.
let server: NatsServer;
let nc: NatsConnection;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

after(async () => {
  await nc?.close();
  await server?.stop();
});

test('opening without creating fails on a missing bucket, naming it, and creates nothing', async () => {
  await assert.rejects(openStores(nc, { create: false }), (e: unknown) => e instanceof MissingBucketError && /^vigil_/.test(e.bucket));
  await assert.rejects(openStores(nc, { create: false }), MissingBucketError);
});

test('once an authority created them, opening finds the same data', async () => {
  const created = await openStores(nc);
  await created.lastSeen.put('alice', { unixMs: 42, status: 'away' });
  const opened = await openStores(nc, { create: false });
  assert.deepEqual(await opened.lastSeen.get('alice'), { unixMs: 42, status: 'away' });
});

test('an account read from the stream leader agrees with the direct read: created, deleted, never there', async () => {
  const stores = await openStores(nc);
  await stores.accounts.create('leaderread', 'leader-pass', 4096);
  assert.deepEqual([await stores.accounts.existsAtLeader('leaderread'), await stores.accounts.exists('leaderread')], [true, true]);
  await stores.accounts.delete('leaderread');
  assert.deepEqual([await stores.accounts.existsAtLeader('leaderread'), await stores.accounts.exists('leaderread')], [false, false]);
  assert.equal(await stores.accounts.existsAtLeader('neverthere'), false);
  await stores.accounts.create('leaderread', 'leader-pass-2', 4096);
  assert.equal(await stores.accounts.existsAtLeader('leaderread'), true, 'created again');
});
