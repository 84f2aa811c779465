import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseH, SmQueue } from './stream-management.js';

test("'h' is a decimal unsigned 32-bit integer and nothing else", () => {
  assert.equal(parseH('0'), 0);
  assert.equal(parseH('4294967295'), 4294967295);
  for (const bad of [undefined, '', '-1', '4294967296', '1.5', ' 1', '0x10', '12345678901']) assert.equal(parseH(bad), undefined, String(bad));
});

test('acks drop exactly the acknowledged prefix; the rest stays in order', () => {
  const q = new SmQueue();
  for (const x of ['a', 'b', 'c', 'd']) q.sent(x);
  assert.deepEqual(q.ack(1), { kind: 'ok', acknowledged: 1 });
  assert.deepEqual(q.unacked(), ['b', 'c', 'd']);
  assert.deepEqual(q.ack(1), { kind: 'ok', acknowledged: 0 });
  assert.deepEqual(q.ack(3), { kind: 'ok', acknowledged: 2 });
  assert.deepEqual(q.unacked(), ['d']);
});

test('an h below the last one acknowledges nothing new and changes nothing', () => {
  const q = new SmQueue();
  for (const x of ['a', 'b', 'c']) q.sent(x);
  assert.deepEqual(q.ack(2), { kind: 'ok', acknowledged: 2 });
  assert.deepEqual(q.ack(1), { kind: 'ok', acknowledged: 0 });
  assert.deepEqual(q.unacked(), ['c']);
  assert.deepEqual(q.ack(3), { kind: 'ok', acknowledged: 1 });
});

test('an h beyond what was sent is refused and changes nothing', () => {
  const q = new SmQueue();
  q.sent('a');
  q.sent('b');
  assert.deepEqual(q.ack(3), { kind: 'too-high', sent: 2 });
  assert.deepEqual(q.unacked(), ['a', 'b']);
});

test('counters wrap at 2^32: an h past the wrap acknowledges the stanzas on both sides of it', () => {
  const q = new SmQueue(2 ** 32 - 2);
  for (const x of ['a', 'b', 'c', 'd']) q.sent(x);
  assert.equal(q.sentCount, 2);
  assert.deepEqual(q.ack(2 ** 32 - 1), { kind: 'ok', acknowledged: 1 });
  assert.deepEqual(q.ack(1), { kind: 'ok', acknowledged: 2 });
  assert.deepEqual(q.unacked(), ['d']);
  assert.equal(q.ack(3).kind, 'too-high');
});

test('property: whatever the interleaving of sends and valid acks, unacked is the suffix after the last h', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant<'send'>('send'), fc.nat(5)), { maxLength: 200 }), (ops) => {
      const q = new SmQueue();
      const all: string[] = [];
      let acked = 0;
      for (const op of ops) {
        if (op === 'send') {
          const x = `m${all.length}`;
          all.push(x);
          q.sent(x);
        } else {
          const h = Math.min(all.length, acked + op);
          const r = q.ack(h);
          assert.equal(r.kind, 'ok');
          acked = h;
        }
        assert.deepEqual(q.unacked(), all.slice(acked));
        assert.equal(q.sentCount, all.length);
        assert.equal(q.ack(all.length + 1).kind, 'too-high');
      }
    }),
  );
});

test('takeUnacked empties the queue and counts the taken stanzas as gone', () => {
  const q = new SmQueue();
  for (const x of ['a', 'b', 'c']) q.sent(x);
  q.ack(1);
  assert.deepEqual(q.takeUnacked(), ['b', 'c']);
  assert.equal(q.unackedCount, 0);
  assert.equal(q.sentCount, 3);
});
