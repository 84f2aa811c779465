import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cluster } from '@vigil/proto';
import { encodeFanOutBatch } from './index.js';

const text = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
const fanOutArb: fc.Arbitrary<cluster.FanOut> = fc.record({
  stanzaXml: fc.oneof(text, fc.string({ minLength: 100, maxLength: 300 })),
  fromBareJid: text,
  shard: fc.oneof(fc.constantFrom(0, 1, 127, 128, 255, 16383, 16384, 65535, 0xffffffff), fc.nat()),
  epoch: fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 31, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER), fc.nat()),
  toJids: fc.array(text, { maxLength: 5 }),
});

test('a fan-out batch is encoded byte for byte as the generated encoder does, and decodes to what was given', () => {
  fc.assert(
    fc.property(fc.array(fanOutArb, { maxLength: 6 }), (fanOuts) => {
      const ours = encodeFanOutBatch(fanOuts);
      assert.deepEqual(Buffer.from(ours), Buffer.from(cluster.FanOutBatch.encode({ fanOuts }).finish()));
      const back = cluster.FanOutBatch.decode(ours).fanOuts;
      assert.equal(back.length, fanOuts.length);
    }),
    { numRuns: 500 },
  );
});

test('a batch whose sizes need several length bytes (long stanzas, many recipients) is encoded the same way', () => {
  const toJids = Array.from({ length: 3000 }, (_, i) => `user${i}@localhost`);
  const fanOuts: cluster.FanOut[] = [{ stanzaXml: `<presence from='a@localhost/r'>${'x'.repeat(70_000)}</presence>`, fromBareJid: 'a@localhost', shard: 200, epoch: 123456789, toJids }];
  assert.deepEqual(Buffer.from(encodeFanOutBatch(fanOuts)), Buffer.from(cluster.FanOutBatch.encode({ fanOuts }).finish()));
});
