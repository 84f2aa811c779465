import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bucketLabel, duration, histogramOf, perSecond, quantileBucket, quantileText, tickLabel } from './latency.js';
import type { HistogramView, LatencyView } from './view.js';

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 30, 60];
const hist = (counts: number[], sumSeconds = 0): HistogramView => ({ boundsSeconds: BOUNDS, counts, sumSeconds, count: counts.reduce((s, c) => s + c, 0) });
const at = (i: number, n = 1): number[] => BOUNDS.map((_, j) => (j === i ? n : 0)).concat(i === BOUNDS.length ? n : 0);

const view = (causes: LatencyView['causes']): LatencyView => ({ causes, fanOut: [], authorities: [], unanswered: [], readAtUnixMs: 0, error: '' });

test('all causes add up bucket by bucket; one cause is itself; an unseen cause has no histogram', () => {
  const v = view([
    { cause: 'client-lost', histogram: hist(at(0, 3), 0.002) },
    { cause: 'node-lost', histogram: hist(at(12, 2), 6.5) },
  ]);
  const all = histogramOf(v, 'all');
  assert.equal(all?.count, 5);
  assert.equal(all?.sumSeconds, 6.502);
  assert.equal(all?.counts[0], 3);
  assert.equal(all?.counts[12], 2);
  assert.deepEqual(histogramOf(v, 'node-lost'), v.causes[1]?.histogram);
  assert.equal(histogramOf(v, 'kicked'), undefined);
  assert.equal(histogramOf(view([]), 'all'), undefined);
});

test('buckets read as ranges in the units people use', () => {
  assert.equal(bucketLabel(BOUNDS, 0), '≤ 1 ms');
  assert.equal(bucketLabel(BOUNDS, 1), '1 ms – 2.5 ms');
  assert.equal(bucketLabel(BOUNDS, 12), '3 s – 4 s');
  assert.equal(bucketLabel(BOUNDS, 18), '> 60 s');
  assert.deepEqual(BOUNDS.concat(Infinity).map((_, i) => tickLabel(BOUNDS, i)).filter((t) => t !== ''), ['1ms', '10ms', '100ms', '1s', '10s', '>60s']);
  assert.equal(duration(0.0002), '200 µs');
  assert.equal(duration(0.00251), '2.51 ms');
  assert.equal(duration(7.5), '7.5 s');
  assert.equal(duration(300), '5 min');
  assert.equal(perSecond(0), '0/s');
  assert.equal(perSecond(2.345), '2.35/s');
  assert.equal(perSecond(35_421.7), '35400/s');
});

test('a quantile lies in the bucket where the running count reaches its rank', () => {
  assert.equal(quantileBucket(hist(at(0, 0)), 0.5), undefined);
  assert.equal(quantileText(hist(at(0, 0)), 0.5), '—');
  const h = hist(BOUNDS.map((_, i) => (i === 0 ? 98 : i === 12 ? 1 : 0)).concat(1));
  assert.equal(quantileText(h, 0.5), '≤ 1 ms');
  assert.equal(quantileText(h, 0.99), '≤ 4 s');
  assert.equal(quantileText(h, 1), '> 60 s');
  fc.assert(
    fc.property(fc.array(fc.nat(20), { minLength: BOUNDS.length + 1, maxLength: BOUNDS.length + 1 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (counts, q) => {
      const x = hist(counts);
      const i = quantileBucket(x, q);
      if (x.count === 0) return assert.equal(i, undefined);
      assert.ok(i !== undefined && (counts[i] ?? 0) > 0, 'the quantile lies in a bucket that has observations');
      const below = counts.slice(0, i).reduce((s, c) => s + c, 0);
      assert.ok(below < q * x.count && below + (counts[i] ?? 0) >= q * x.count - 1e-9);
    }),
  );
});
