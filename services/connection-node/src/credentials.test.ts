import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { AccountStore, openStores, type Stores } from '@vigil/store';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, type NatsServer } from '@vigil/testkit';
import { DirectCredentials } from './credentials.js';
import { RequestMux } from './request-mux.js';

// The login's credential read as a JetStream direct get through the node's
// multiplexer, against a real nats-server: the same answers as AccountStore.
let server: NatsServer;
let nc: NatsConnection;
let stores: Stores;
let mux: RequestMux;
const quiet = createLogger({ service: 'credentials-test' }, { level: 'error', write: () => undefined });
const viaMux = (subject: string, data: Uint8Array) => mux.request(subject, data, 5000, (s, d, reply) => nc.publish(s, d, { reply }));

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  stores = await openStores(nc);
  mux = new RequestMux(nc);
});

after(async () => {
  mux?.close();
  await nc?.close();
  await server?.stop();
});

test('a stored account gives the same keys as AccountStore, for each hash', async () => {
  await stores.accounts.create('alice', 'alice-pass', 4096);
  const direct = new DirectCredentials(stores.accounts, viaMux, quiet, { direct: true });
  for (const hash of ['sha256', 'sha1'] as const) {
    const want = await stores.accounts.credential('alice', hash);
    assert.ok(want !== undefined);
    assert.deepEqual(await direct.credential('alice', hash), want);
  }
});

test('an unknown account, and one deleted, have no credential', async () => {
  const direct = new DirectCredentials(stores.accounts, viaMux, quiet, { direct: true });
  assert.equal(await direct.credential('nobody', 'sha256'), undefined);
  await stores.accounts.create('gone', 'gone-pass', 4096);
  assert.ok((await direct.credential('gone', 'sha256')) !== undefined);
  assert.equal(await stores.accounts.delete('gone'), true);
  assert.equal(await direct.credential('gone', 'sha256'), undefined);
});

test('a name that needs escaping reads its own key, not a neighbour', async () => {
  await stores.accounts.create('Zoë.x', 'p', 4096);
  const direct = new DirectCredentials(stores.accounts, viaMux, quiet, { direct: true });
  assert.deepEqual(await direct.credential('Zoë.x', 'sha256'), await stores.accounts.credential('Zoë.x', 'sha256'));
  assert.equal(await direct.credential('zoë.x', 'sha256'), undefined);
});

test('a bucket without direct gets is read through the KV client instead', async () => {
  const bucket = 'accounts_nodirect';
  const kv = await new Kvm(nc).create(bucket, { history: 1, allow_direct: false });
  const accounts = new AccountStore(kv, bucket);
  await accounts.create('bob', 'bob-pass', 4096);
  assert.equal(await accounts.directReads(), false);
  assert.equal(await stores.accounts.directReads(), true);
  const direct = new DirectCredentials(accounts, viaMux, quiet, { direct: await accounts.directReads(), bucket });
  assert.deepEqual(await direct.credential('bob', 'sha256'), await accounts.credential('bob', 'sha256'));
  assert.equal(await direct.credential('nobody', 'sha256'), undefined);
});
