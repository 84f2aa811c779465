import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashDetect } from './scenarios/crash-detect.js';

// A smoke test, not a benchmark: it proves the scenario runs end to end and
// reports well-formed figures. It asserts no timing bound on purpose.
test('crash-detect at 5 trials reports 5 samples, none missing, with ordered percentiles', { timeout: 180_000 }, async () => {
  const report = await runCrashDetect({ trials: 5, warmup: 1, concurrency: 2 });
  const m = report.metrics;
  assert.deepEqual(m.firstErrors, []);
  assert.equal(m.samples, 5);
  assert.equal(m.samplesMs.length, 5);
  assert.equal(m.missing, 0);
  assert.equal(m.failed, 0);
  assert.equal(m.notRun, 0);
  const l = m.latencyMs;
  assert.ok(l !== null, 'a latency summary');
  for (const v of [l.min, l.p50, l.p90, l.p99, l.max, l.mean]) assert.ok(Number.isFinite(v) && v >= 0, `finite, non-negative: ${v}`);
  assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
  assert.ok(l.min <= l.mean && l.mean <= l.max, JSON.stringify(l));
  assert.equal(report.scenario, 'crash-detect');
  assert.match(report.summary, /^crash-detect: .*5 samples, 0 missing/);
});
