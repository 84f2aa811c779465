import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSilentDeath } from './scenarios/silent-death.js';

// A smoke test, not a benchmark: short ping settings so it ends quickly; it
// proves the scenario runs end to end and reports well-formed figures, and
// asserts no timing bound on purpose.
test('silent-death with 2 victims and short pings reports 2 samples, none missing, with ordered percentiles', { timeout: 180_000 }, async () => {
  const report = await runSilentDeath({ victims: 2, idlePingMs: 300, pingTimeoutMs: 600 });
  const m = report.metrics;
  assert.deepEqual(m.firstErrors, []);
  assert.equal(m.samples, 2);
  assert.equal(m.missing, 0);
  assert.equal(m.samplesMs.length, 2);
  const l = m.latencyMs;
  assert.ok(l !== null, 'a latency summary');
  assert.ok(l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
  assert.ok(m.sinceLastByteMs !== null && m.sinceLastByteMs.min >= 0);
  assert.equal(report.params.clientIdlePingMs, 300, 'the effective setting is reported');
  assert.equal(report.params.settings, 'overridden');
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'plain JSON');
  assert.match(report.summary, /^silent-death: .*2 samples, 0 missing/);
});
