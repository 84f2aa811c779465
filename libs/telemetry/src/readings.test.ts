import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BucketMismatchError, CounterRate, addHistograms, counterTotal, emptyHistogram, histogramsOf, type HistogramReading, type MetricsReading } from './readings.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];

/** A histogram made the way the SDK makes one: each value counts in the first bucket whose bound is >= it. */
function observe(values: readonly number[], bounds = BOUNDS): HistogramReading {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const v of values) {
    const i = bounds.findIndex((b) => v <= b);
    const at = i < 0 ? bounds.length : i;
    counts[at] = (counts[at] ?? 0) + 1;
  }
  return { labels: {}, boundaries: bounds, counts, sum: values.reduce((s, v) => s + v, 0), count: values.length };
}

test('adding two histograms gives the histogram of all their observations', () => {
  const value = fc.double({ min: 0, max: 5, noNaN: true });
  fc.assert(
    fc.property(fc.array(value, { maxLength: 50 }), fc.array(value, { maxLength: 50 }), (a, b) => {
      const sum = addHistograms(observe(a), observe(b));
      const all = observe([...a, ...b]);
      assert.deepEqual(sum.counts, all.counts);
      assert.equal(sum.count, all.count);
      assert.ok(Math.abs(sum.sum - all.sum) < 1e-9);
      assert.equal(sum.counts.reduce((s, c) => s + c, 0), sum.count);
    }),
  );
  assert.deepEqual(addHistograms(emptyHistogram(BOUNDS), observe([0.5])).counts, [0, 0, 0, 1, 0]);
});

test('histograms with other bucket bounds are refused, naming both', () => {
  assert.throws(() => addHistograms(observe([1]), observe([1], [0.5, 1])), (e: unknown) => e instanceof BucketMismatchError && /\[0\.001, 0\.01, 0\.1, 1\] and \[0\.5, 1\]/.test(e.message));
});

test('series are picked by their labels', () => {
  const r: MetricsReading = {
    histograms: new Map([['lat', [{ ...observe([0.1]), labels: { cause: 'client-lost' } }, { ...observe([2, 3]), labels: { cause: 'node-lost' } }]]]),
    counters: new Map([['fan', [{ labels: { kind: 'available' }, value: 4 }, { labels: { kind: 'unavailable' }, value: 7 }]]]),
  };
  assert.deepEqual(histogramsOf(r, 'lat', { cause: 'node-lost' }).map((h) => h.count), [2]);
  assert.equal(histogramsOf(r, 'lat').length, 2);
  assert.equal(histogramsOf(r, 'other').length, 0);
  assert.equal(counterTotal(r, 'fan', { kind: 'unavailable' }), 7);
  assert.equal(counterTotal(r, 'fan'), 11);
  assert.equal(counterTotal(r, 'missing'), 0);
});

test('a counter growing at a steady pace has that rate, over at least the window once samples are that old', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 200, max: 5000 }), fc.integer({ min: 2, max: 200 }), (perSecond, stepMs, steps) => {
      const r = new CounterRate({ windowMs: 10_000, maxAgeMs: 60_000, minSpacingMs: 1000 });
      assert.deepEqual(r.sample(0, 0), { perSecond: 0, windowMs: 0 }, 'no rate from a single sample');
      for (let i = 1; i <= steps; i++) {
        const now = i * stepMs;
        const got = r.sample(now, (perSecond * now) / 1000);
        assert.ok(Math.abs(got.perSecond - perSecond) < 1e-6, `rate ${got.perSecond}, expected ${perSecond}`);
        assert.ok(got.windowMs > 0 && got.windowMs <= 60_000);
        if (now >= 10_000 + Math.max(stepMs, 1000)) assert.ok(got.windowMs >= 10_000, `window ${got.windowMs} at ${now}`);
        assert.ok(r.size <= 62, `kept ${r.size} samples`);
      }
    }),
  );
});

test('a rate is never negative, and a counter that restarted starts over', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ dt: fc.integer({ min: 0, max: 20_000 }), total: fc.nat(1_000_000) }), { maxLength: 100 }), (steps) => {
      const r = new CounterRate();
      let now = 0;
      for (const s of steps) {
        now += s.dt;
        const got = r.sample(now, s.total);
        assert.ok(got.perSecond >= 0 && Number.isFinite(got.perSecond));
        assert.ok(got.windowMs >= 0 && got.windowMs <= 60_000);
      }
    }),
  );
  const r = new CounterRate();
  r.sample(0, 100);
  assert.equal(r.sample(2000, 300).perSecond, 100);
  assert.deepEqual(r.sample(4000, 5), { perSecond: 0, windowMs: 0 }, 'lower than before: no rate across the restart');
  assert.equal(r.sample(5000, 15).perSecond, 10);
});

test('after a quiet minute the old samples are forgotten and there is no rate until the next sample', () => {
  const r = new CounterRate();
  r.sample(0, 0);
  r.sample(1000, 10);
  assert.deepEqual(r.sample(120_000, 50), { perSecond: 0, windowMs: 0 });
  assert.deepEqual(r.sample(121_000, 60), { perSecond: 10, windowMs: 1000 });
  assert.throws(() => new CounterRate({ windowMs: 0 }), /windowMs/);
});
