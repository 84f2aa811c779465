import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { countMismatches, MISMATCHES_BEFORE_RECONCILE } from './reconciler.js';

// The reconciler asks a node for a shard's sessions once that shard's digest disagreed in
// MISMATCHES_BEFORE_RECONCILE heartbeats in a row (one may race an event in flight).

test('a shard is due after disagreeing in consecutive heartbeats, and only then', () => {
  let counts = countMismatches(undefined, [3, 7]);
  assert.deepEqual(counts.due, []);
  counts = countMismatches(counts.counts, [7]);
  assert.deepEqual(counts.due, [7]);
  assert.deepEqual([...counts.counts], [[7, 2]], 'shard 3 agreed: its count is gone, not kept');
  counts = countMismatches(counts.counts, [3]);
  assert.deepEqual(counts.due, [], 'shard 3 starts again from one');
  assert.deepEqual(countMismatches(counts.counts, undefined).counts.size, 0, 'a heartbeat with no disagreement keeps nothing');
});

test('a shard listed twice in one heartbeat counts once', () => {
  assert.deepEqual(countMismatches(undefined, [5, 5]).due, []);
});

test('property: due exactly when the shard disagreed in each of the last N heartbeats; nothing kept for others', () => {
  fc.assert(
    fc.property(fc.array(fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 8 }), { nil: undefined }), { maxLength: 12 }), (beats) => {
      let counts: Map<number, number> | undefined;
      beats.forEach((mismatched, i) => {
        const next = countMismatches(counts, mismatched);
        for (let shard = 0; shard < 8; shard++) {
          let run = 0;
          for (let j = i; j >= 0 && (beats[j] ?? []).includes(shard); j--) run++;
          assert.equal(next.counts.get(shard), run === 0 ? undefined : run);
          assert.equal(next.due.includes(shard), run >= MISMATCHES_BEFORE_RECONCILE);
        }
        counts = next.counts;
      });
    }),
  );
});
