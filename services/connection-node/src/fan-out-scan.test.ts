import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cluster } from '@vigil/proto';
import { FanOutScanError, scanFanOutBatch, type FanOutView } from './fan-out-scan.js';

/** What the scanner shows of each fan-out, read out in full. */
function scanned(data: Uint8Array): cluster.FanOut[] {
  const out: cluster.FanOut[] = [];
  scanFanOutBatch(data, (f: FanOutView) => {
    const toJids = [];
    for (let i = 0; i < f.recipientCount; i++) toJids.push(f.recipient(i));
    out.push({ stanzaXml: f.stanzaXml(), fromBareJid: f.fromBareJid(), shard: f.shard, epoch: f.epoch, toJids });
  });
  return out;
}

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

/** A length-delimited field. */
function lenField(field: number, body: Uint8Array | number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(body.length), ...body];
}

const text = fc.string({ unit: fc.oneof(fc.constant('é'), fc.constant('\u{1F600}'), fc.constant('\ufeff'), fc.constant("'"), fc.string({ maxLength: 1 })), maxLength: 16 });
const fanOut: fc.Arbitrary<cluster.FanOut> = fc.record({
  stanzaXml: text,
  fromBareJid: text,
  shard: fc.nat({ max: 0xffffffff }),
  epoch: fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  toJids: fc.array(text, { maxLength: 6 }),
});

/** Fields of other numbers and of unexpected wire types for known numbers: both are skipped by the decoders. */
const unknownField = fc.oneof(
  fc.tuple(fc.integer({ min: 6, max: 2000 }), fc.nat()).map(([n, v]) => [...varint(n << 3), ...varint(v)]),
  fc.tuple(fc.integer({ min: 6, max: 2000 }), fc.uint8Array({ maxLength: 5 })).map(([n, b]) => lenField(n, b)),
  fc.integer({ min: 1, max: 9 }).map((n) => [...varint((n << 3) | 5), 1, 2, 3, 4]),
  fc.integer({ min: 1, max: 9 }).map((n) => [...varint((n << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8]),
  // Field 3 (shard) written as a length-delimited field: wrong wire type, ignored.
  fc.uint8Array({ maxLength: 3 }).map((b) => lenField(3, b)),
);

describe('scanFanOutBatch', () => {
  test('reads every batch the generated encoder writes as the generated decoder does', () => {
    fc.assert(
      fc.property(fc.array(fanOut, { maxLength: 5 }), (fanOuts) => {
        const data = cluster.FanOutBatch.encode({ fanOuts }).finish();
        assert.deepEqual(scanned(data), cluster.FanOutBatch.decode(data).fanOuts);
      }),
      { numRuns: 500 },
    );
  });

  test('skips unknown fields, takes the last of a repeated scalar and reads fields in any order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fanOut, fanOut, fc.array(unknownField, { maxLength: 3 }), fc.boolean()), { maxLength: 4 }),
        fc.array(unknownField, { maxLength: 2 }),
        (entries, outerUnknown) => {
          const bytes: number[] = [...outerUnknown.flat()];
          for (const [a, b, unknown, reverse] of entries) {
            // Two encodings of a fan-out one after the other: scalars of the second win, recipients add up.
            const parts = [[...cluster.FanOut.encode(a).finish()], ...unknown, [...cluster.FanOut.encode(b).finish()]];
            bytes.push(...lenField(1, (reverse ? parts.reverse() : parts).flat()));
          }
          const data = Uint8Array.from(bytes);
          assert.deepEqual(scanned(data), cluster.FanOutBatch.decode(data).fanOuts);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('reads a batch that sits inside a larger buffer', () => {
    const inner = cluster.FanOutBatch.encode({ fanOuts: [{ stanzaXml: '<presence/>', fromBareJid: 'a@x', shard: 7, epoch: 3, toJids: ['b@x', 'c@x/r'] }] }).finish();
    const outer = new Uint8Array(inner.length + 10).fill(0xff);
    outer.set(inner, 5);
    assert.deepEqual(scanned(outer.subarray(5, 5 + inner.length)), cluster.FanOutBatch.decode(inner).fanOuts);
  });

  test('visits nothing of a malformed batch and says where it is malformed', () => {
    const good = [...cluster.FanOutBatch.encode({ fanOuts: [{ stanzaXml: '<presence/>', fromBareJid: 'a@x', shard: 1, epoch: 2, toJids: ['b@x'] }] }).finish()];
    const bad: [string, number[]][] = [
      ['truncated', good.slice(0, good.length - 1)],
      ['a length past the end', [...good, ...lenField(1, [0x2a, 0x05, 0x41])]],
      ['a truncated varint', [...good, 0x08, 0x80]],
      ['field number 0', [...good, 0x00, 0x01]],
      ['a group', [...good, 0x0b, 0x0c]],
      ['wire type 7', [...good, 0x0f]],
      ['an epoch beyond 2^53 - 1', [...good, ...lenField(1, [0x20, ...varint(2n ** 53n)])]],
      ['an eleven-byte varint', [...good, 0x08, ...new Array<number>(10).fill(0x80), 0x01]],
    ];
    for (const [what, bytes] of bad) {
      let visited = 0;
      assert.throws(() => scanFanOutBatch(Uint8Array.from(bytes), () => visited++), FanOutScanError, what);
      assert.equal(visited, 0, what);
    }
  });

  test('an epoch of 2^53 - 1 is read exactly', () => {
    const data = Uint8Array.from(lenField(1, [0x20, ...varint(Number.MAX_SAFE_INTEGER)]));
    assert.equal(scanned(data)[0]?.epoch, Number.MAX_SAFE_INTEGER);
  });
});
