import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { shardOf, subjects } from '@vigil/cluster';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { Outbox } from './outbox.js';

// What the outbox puts on NATS, and with which shard's epoch, when this
// replica owns only one side of a delivery.
const S = subjects('vigil');
const SHARDS = 256;
const ALICE = 'alice@localhost';
const BOB = 'bob@localhost';
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

/** An outbox of a replica owning exactly the shards of `owned` (at epoch 7). */
function outboxOwning(...owned: string[]): Outbox {
  const shards = new Set(owned.map((j) => shardOf(j, SHARDS)));
  return new Outbox(nc, S, SHARDS, (shard) => (shards.has(shard) ? 7 : undefined), createLogger({ service: 'outbox-test' }, { level: 'error', write: () => undefined }));
}

function next(subject: string): Promise<Msg> {
  const sub = nc.subscribe(subject, { max: 1 });
  return withDeadline((async () => {
    for await (const m of sub) return m;
    throw new Error(`subscription to ${subject} ended`);
  })(), 5000, `a message on ${subject}`);
}

test('an inbound subscription request, decided by the recipient\'s owner, is stamped with the recipient\'s shard', async () => {
  assert.notEqual(shardOf(ALICE, SHARDS), shardOf(BOB, SHARDS));
  const got = next(S.deliver(BOB));
  outboxOwning(BOB).deliver(BOB, `<presence from='${ALICE}' type='subscribe'/>`, ALICE);
  const d = cluster.Delivery.decode((await got).data);
  assert.deepEqual({ to: d.toJid, shard: d.shard, epoch: d.epoch, from: d.fromBareJid }, { to: BOB, shard: shardOf(BOB, SHARDS), epoch: 7, from: ALICE });
  assert.match(d.stanzaXml, /type='subscribe'/);
});

test('presence to one session goes on the fan-out subject, stamped with the sender\'s shard when it is owned here', async () => {
  await nc.flush();
  const got = next(S.fanOut);
  outboxOwning(ALICE, BOB).deliver(`${BOB}/phone`, `<presence from='${ALICE}/desk'/>`, ALICE);
  const batch = cluster.FanOutBatch.decode((await got).data);
  assert.equal(batch.fanOuts.length, 1);
  const f = batch.fanOuts[0];
  assert.deepEqual({ to: f?.toJids, shard: f?.shard, epoch: f?.epoch, from: f?.fromBareJid }, { to: [`${BOB}/phone`], shard: shardOf(ALICE, SHARDS), epoch: 7, from: ALICE });
});

test('a delivery for which this replica owns neither side is not sent', async () => {
  const sub = nc.subscribe(S.deliver(BOB));
  const outbox = outboxOwning('carol@localhost');
  outbox.deliver(BOB, `<presence from='${ALICE}' type='subscribe'/>`, ALICE);
  outbox.send('vigil.test.marker', new Uint8Array([1])); // published after it, in order, if it were sent
  const marker = next('vigil.test.marker');
  await marker;
  await nc.flush();
  assert.equal(sub.getProcessed(), 0);
  sub.unsubscribe();
});
