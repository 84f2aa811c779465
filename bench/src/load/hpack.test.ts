import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodeInteger, encodeString, HpackDecoder, HpackError, huffmanDecode, huffmanEncode, huffmanLength, HUFFMAN_CODES, HUFFMAN_EOS, MAX_INTEGER, type HeaderSink,
} from './hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeBlock(d: HpackDecoder, block: Buffer): [string, string][] {
  const out: [string, string][] = [];
  const sink: HeaderSink = { header: (n, v) => out.push([n, v]) };
  d.decode(block, 0, block.length, sink);
  return out;
}

type Step = { block: string; fields: [string, string][]; table: [string, string][]; size: number };

function runSteps(d: HpackDecoder, steps: Step[]): void {
  steps.forEach((s, i) => {
    assert.deepEqual(decodeBlock(d, hex(s.block)), s.fields, `block ${i + 1}: fields`);
    assert.deepEqual(d.dynamicEntries(), s.table, `block ${i + 1}: dynamic table`);
    assert.equal(d.dynamicSize, s.size, `block ${i + 1}: table size`);
  });
}

const REQ1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQ_TABLES: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];

test('RFC 7541 C.3: requests without Huffman coding, on one decoder', () => {
  runSteps(new HpackDecoder(), [
    { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQ1, table: REQ_TABLES[0] as [string, string][], size: 57 },
    { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQ2, table: REQ_TABLES[1] as [string, string][], size: 110 },
    { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: REQ3, table: REQ_TABLES[2] as [string, string][], size: 164 },
  ]);
});

test('RFC 7541 C.4: requests with Huffman coding, on one decoder', () => {
  runSteps(new HpackDecoder(), [
    { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQ1, table: REQ_TABLES[0] as [string, string][], size: 57 },
    { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQ2, table: REQ_TABLES[1] as [string, string][], size: 110 },
    { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQ3, table: REQ_TABLES[2] as [string, string][], size: 164 },
  ]);
});

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESP: Omit<Step, 'block'>[] = [
  {
    fields: [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]],
    table: [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']], size: 222,
  },
  {
    fields: [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]],
    table: [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']], size: 222,
  },
  {
    fields: [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
    table: [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]], size: 215,
  },
];

test('RFC 7541 C.5: responses without Huffman coding, 256-octet table, with evictions', () => {
  const blocks = [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ];
  runSteps(new HpackDecoder(256), RESP.map((r, i) => ({ ...r, block: blocks[i] as string })));
});

test('RFC 7541 C.6: responses with Huffman coding, 256-octet table, with evictions', () => {
  const blocks = [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ];
  runSteps(new HpackDecoder(256), RESP.map((r, i) => ({ ...r, block: blocks[i] as string })));
});

test('the canonical Huffman code built from the lengths has the codes of RFC 7541 Appendix B and is complete', () => {
  // A sample of the appendix's codes, from every part of the table.
  const expected: [number, number, number][] = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [22, 0x3ffffffe, 30], [32, 0x14, 6], [48, 0x0, 5],
    [60, 0x7ffc, 15], [92, 0x7fff0, 19], [116, 0x9, 5], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [153, 0x1fffdc, 21],
    [192, 0x3ffffe0, 26], [203, 0x7ffffde, 27], [220, 0xffffffd, 28], [249, 0xffffffe, 28], [254, 0x7fffff0, 27], [255, 0x3ffffee, 26],
    [HUFFMAN_EOS, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of expected) {
    assert.equal(huffmanLength(sym), len, `length of ${sym}`);
    assert.equal(HUFFMAN_CODES[sym], code, `code of ${sym}: 0x${HUFFMAN_CODES[sym]?.toString(16)}`);
  }
  // Kraft sum exactly 1: a complete prefix code.
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** (30 - huffmanLength(s));
  assert.equal(kraft, 2 ** 30);
});

test('Huffman decoding rejects EOS, long padding and padding that is not ones', () => {
  const d = Buffer.alloc(64);
  assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, d), HpackError, 'EOS (30 ones) in the string');
  assert.throws(() => huffmanDecode(Buffer.from([0x00]), 0, 1, d), /padding is not/, "'0' then three zero bits");
  assert.throws(() => huffmanDecode(Buffer.from([0x07, 0xff]), 0, 2, d), /padding of \d+ bits/, "'0' then eleven ones");
  assert.equal(huffmanDecode(Buffer.from([0x07]), 0, 1, d), 1, "'0' then three ones");
  assert.equal(d[0], 0x30);
});

test('Huffman coding round-trips any octet string', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const s = Buffer.from(bytes).toString('latin1');
      const enc = huffmanEncode(s);
      const out = Buffer.alloc(bytes.length + 8);
      const n = huffmanDecode(enc, 0, enc.length, out);
      assert.equal(out.toString('latin1', 0, n), s);
    }),
  );
});

/** Decodes one integer with the decoder itself: a literal field without indexing whose name index is the integer. */
function decodeIntegerVia(bytes: Uint8Array): number {
  // Indexed field (7-bit prefix) against a table too small: the error message names the index it read.
  const d = new HpackDecoder();
  try {
    d.decode(Buffer.from(bytes), 0, bytes.length, { header: () => undefined });
  } catch (e) {
    const m = /header index (\d+) beyond/.exec(String((e as Error).message));
    if (m) return Number(m[1]);
    throw e;
  }
  throw new Error('decoded without error');
}

test('HPACK integers round-trip for every prefix size (RFC 7541 §5.1), and C.1 examples encode as published', () => {
  const buf = new Uint8Array(16);
  let end = encodeInteger(10, 5, 0, buf, 0);
  assert.deepEqual([...buf.subarray(0, end)], [0x0a], 'C.1.1');
  end = encodeInteger(1337, 5, 0, buf, 0);
  assert.deepEqual([...buf.subarray(0, end)], [0x1f, 0x9a, 0x0a], 'C.1.2');
  end = encodeInteger(42, 8, 0, buf, 0);
  assert.deepEqual([...buf.subarray(0, end)], [0x2a], 'C.1.3');
  fc.assert(
    fc.property(fc.integer({ min: 62, max: MAX_INTEGER }), (v) => {
      // Index ≥ 62 is beyond an empty dynamic table, so the decoder reports the index it decoded.
      const n = encodeInteger(v, 7, 0x80, buf, 0);
      assert.equal(decodeIntegerVia(buf.subarray(0, n)), v);
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.nat({ max: 2 ** 40 }), (prefix, v) => {
      const n = encodeInteger(v, prefix, 0, buf, 0);
      // Decode by hand against the spec's algorithm: prefix, then 7-bit groups little-endian.
      const max = (1 << prefix) - 1;
      let got = (buf[0] as number) & max;
      if (got === max) {
        let m = 1;
        for (let i = 1; i < n; i++) {
          got += ((buf[i] as number) & 0x7f) * m;
          m *= 128;
          assert.equal(((buf[i] as number) & 0x80) !== 0, i < n - 1, 'continuation bits');
        }
      } else assert.equal(n, 1);
      assert.equal(got, v);
    }),
  );
});

test('the decoder rejects integers over its limit, index 0, truncated blocks and misplaced or oversized table size updates', () => {
  const d = () => new HpackDecoder();
  const nop: HeaderSink = { header: () => undefined };
  const dec = (b: string) => d().decode(hex(b), 0, hex(b).length, nop);
  assert.throws(() => dec('80'), /index 0/);
  assert.throws(() => dec('ff ff ff ff ff ff 0f'), /integer exceeds/);
  assert.throws(() => dec('ff 80'), /runs past/);
  assert.throws(() => dec('40 05 61'), /runs past/);
  assert.throws(() => dec('40'), /missing/);
  assert.throws(() => dec('82 20'), /size update after a header field/);
  assert.throws(() => dec('3fe21f'), /exceeds the limit 4096/, 'update to 4097');
  assert.doesNotThrow(() => dec('3fe11f 82'), 'update to 4096 then a field');
});

test('a table size update evicts, size 0 empties the table, and an entry larger than the table empties it', () => {
  const dec = new HpackDecoder();
  const block = Buffer.alloc(256);
  let n = 0;
  for (const [k, v] of [['a', '1'], ['b', '2'], ['c', '3']]) {
    block[n++] = 0x40;
    n = encodeString(k as string, block, n);
    n = encodeString(v as string, block, n);
  }
  decodeBlock(dec, block.subarray(0, n));
  assert.deepEqual(dec.dynamicEntries(), [['c', '3'], ['b', '2'], ['a', '1']]);
  assert.equal(dec.dynamicSize, 3 * 34);
  // Update to 68: the oldest entry goes.
  n = encodeInteger(68, 5, 0x20, block, 0);
  decodeBlock(dec, block.subarray(0, n));
  assert.deepEqual(dec.dynamicEntries(), [['c', '3'], ['b', '2']]);
  // Index 62 is now c: 3, index 63 b: 2.
  assert.deepEqual(decodeBlock(dec, hex('be bf')), [['c', '3'], ['b', '2']]);
  // An entry of 69 octets does not fit in 68: the table empties and stays empty.
  block[0] = 0x40;
  n = encodeString('x'.repeat(30), block, 1);
  n = encodeString('y'.repeat(7), block, n);
  decodeBlock(dec, block.subarray(0, n));
  assert.deepEqual(dec.dynamicEntries(), []);
  assert.throws(() => decodeBlock(dec, hex('be')), /beyond the static and dynamic tables/);
  // Size 0 empties a filled table; a later update may raise it again up to the limit.
  decodeBlock(dec, Buffer.concat([hex('3f 25'), Buffer.from([0x40, 1, 0x61, 1, 0x31])]));
  assert.equal(dec.dynamicEntries().length, 1);
  decodeBlock(dec, hex('20'));
  assert.deepEqual(dec.dynamicEntries(), []);
  assert.equal(dec.dynamicSize, 0);
  // Many entries through a small table: the ring grows and wraps, the newest stay.
  const big = new HpackDecoder();
  for (let i = 0; i < 500; i++) {
    block[0] = 0x40;
    n = encodeString(`k${i}`, block, 1);
    n = encodeString(`v${i}`, block, n);
    decodeBlock(big, block.subarray(0, n));
  }
  const entries = big.dynamicEntries();
  assert.deepEqual(entries[0], ['k499', 'v499']);
  assert.equal(entries.length, Math.floor(4096 / (4 + 4 + 32)));
  assert.equal(big.dynamicSize, entries.reduce((s, [k, v]) => s + k.length + v.length + 32, 0));
});

test('never-indexed and without-indexing literals are not added to the table', () => {
  const dec = new HpackDecoder();
  const out = decodeBlock(dec, Buffer.concat([hex('10'), Buffer.from([1, 0x61, 1, 0x62]), hex('04 01 2f')]));
  assert.deepEqual(out, [['a', 'b'], [':path', '/']]);
  assert.deepEqual(dec.dynamicEntries(), []);
});
