// How often the KV client's key listing (kv.keys) comes back short on this
// nats-server, in a 3-server cluster with a replicated bucket while other
// keys are written (docs/decisions.md, "Reading the session registry"):
//   npm run build && node bench/tools/kv-keys-listing.mjs
// 64 "shards" of 40 keys (every 7th deleted), listed 30 times each while 4
// writers update other keys; prints every short listing and the totals
// { runs, bad, writes }. On nats-server 2.9.10: bad 91 and 380 of 1,920 runs in two runs.
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { eventually, startNatsCluster } from '@vigil/testkit';

const SHARDS = 64;
const ROUNDS = 30;
const cluster = await startNatsCluster(3);
const nc = await connect({ servers: cluster.urls.split(',') });
const kv = await eventually(() => new Kvm(nc).create('listing', { history: 1, storage: 'file', replicas: 3 }), 30_000, 'a replicated bucket');
const expected = new Map();
for (let s = 0; s < SHARDS; s++) {
  const keys = new Set();
  for (let i = 0; i < 40; i++) {
    await kv.put(`${s}.k${i}`, 'x'.repeat(200));
    keys.add(`${s}.k${i}`);
  }
  for (let i = 0; i < 40; i += 7) {
    await kv.delete(`${s}.k${i}`);
    keys.delete(`${s}.k${i}`);
  }
  expected.set(s, keys);
}
let stop = false;
let writes = 0;
const writer = async () => {
  while (!stop) {
    await kv.put(`${Math.floor(Math.random() * SHARDS)}.w${100 + Math.floor(Math.random() * 20)}`, 'y');
    writes++;
  }
};
const writers = [writer(), writer(), writer(), writer()];
let runs = 0;
let bad = 0;
for (let round = 0; round < ROUNDS; round++) {
  await Promise.all([...expected].map(async ([s, keys]) => {
    const got = new Set();
    for await (const k of await kv.keys(`${s}.*`)) got.add(k);
    runs++;
    const missing = [...keys].filter((k) => !got.has(k));
    if (missing.length > 0) {
      bad++;
      console.log(`shard ${s}: listed ${got.size}, missing ${missing.length} of ${keys.size}`);
    }
  }));
}
stop = true;
await Promise.all(writers);
console.log({ runs, bad, writes });
await nc.close();
await cluster.stop();
