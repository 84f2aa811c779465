import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { admin, cluster } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import { createLogger } from '@vigil/telemetry';
import fc from 'fast-check';
import { packSequence, unpackSequence, WatchPublisher } from './presence-events.js';
import type { SessionRecord } from './registry.js';

const record = (fullJid: string): SessionRecord => ({
  sessionId: fullJid, fullJid, bareJid: fullJid.split('/')[0] ?? fullJid, shard: 3, nodeId: 'n', incarnation: 'i',
  available: true, presenceXml: `<presence from='${fullJid}'/>`, priority: 0, presenceSeq: 1, availableSinceUnixMs: 5,
  directedTo: new Set(), presenceErrorsFrom: new Set(),
});

test('changes are numbered per user without gaps, start again under a new epoch, and a deposed owner says nothing', () => {
  const published: { subject: string; change: admin.PresenceChanged }[] = [];
  const nc = { publish: (subject: string, data: Uint8Array) => published.push({ subject, change: admin.PresenceChanged.decode(data) }) };
  let epoch: number | undefined = 7;
  const s = subjects('vigil');
  const p = new WatchPublisher(nc as unknown as NatsConnection, s, () => epoch, () => 1000, createLogger({}, { level: 'error' }));
  const a = record('a@x/1');
  const b = record('b@x/1');
  p.changed(a, 'available');
  p.changed(b, 'available');
  p.changed(a, cluster.EndCause.END_CAUSE_CLIENT_LOST);
  assert.deepEqual(published.map((m) => [m.subject === s.watch('a@x') ? 'a' : 'b', m.change.epoch, m.change.counter]), [['a', 7, 1], ['b', 7, 1], ['a', 7, 2]]);
  assert.equal(published[2]?.change.cause, cluster.EndCause.END_CAUSE_CLIENT_LOST);
  assert.equal(published[2]?.change.presenceXml, '', 'no presence with an end');
  assert.deepEqual(p.sequenceOf('a@x', 7), { epoch: 7, counter: 2 });

  epoch = 9; // the shard came back under a new epoch
  assert.deepEqual(p.sequenceOf('a@x', 9), { epoch: 9, counter: 0 });
  p.changed(a, 'available');
  assert.deepEqual([published[3]?.change.epoch, published[3]?.change.counter], [9, 1]);

  epoch = undefined;
  p.changed(a, 'available');
  assert.equal(published.length, 4);
});

test('a packed watch sequence unpacks to the same epoch and counter, and one too large to pack is kept as it is', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 21 - 1 }), (epoch, counter) => {
      const packed = packSequence({ epoch, counter });
      assert.equal(typeof packed, 'number');
      assert.deepEqual(unpackSequence(packed), { epoch, counter });
    }),
  );
  fc.assert(
    fc.property(fc.oneof(fc.constant(2 ** 32), fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER })), fc.nat(), (epoch, counter) => {
      const big = { epoch, counter };
      assert.equal(packSequence(big), big);
      assert.equal(unpackSequence(packSequence(big)), big);
    }),
  );
  const manyChanges = { epoch: 3, counter: 2 ** 21 };
  assert.equal(packSequence(manyChanges), manyChanges);
});
