import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize } from './report.js';

describe('report: nearest-rank percentiles', () => {
  test('each percentile is a sample: the smallest with at least p% of samples at or below it', () => {
    const sorted = Array.from({ length: 200 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 50), 100);
    assert.equal(percentile(sorted, 90), 180);
    assert.equal(percentile(sorted, 99), 198);
    assert.equal(percentile(sorted, 100), 200);
    assert.equal(percentile([7], 50), 7);
    assert.equal(percentile([1, 2, 3, 4, 5], 99), 5);
  });

  test('summaries sort their input and never invent figures for no samples', () => {
    assert.deepEqual(summarize([3, 1, 2]), { count: 3, min: 1, p50: 2, p90: 3, p99: 3, max: 3, mean: 2 });
    assert.equal(summarize([]), undefined);
    assert.throws(() => percentile([], 50), RangeError);
  });
});
