import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGrpcBench } from './scenarios/grpc.js';

// A smoke test, not a benchmark: a low rate for half a second, three batch
// calls, three crash trials; it proves each part runs and reports
// well-formed figures. No timing is asserted.
test('grpc at a small size reports every GetPresence, batch call and crash trial', { timeout: 180_000 }, async () => {
  const report = await runGrpcBench({ rate: 100, durationMs: 500, warmupMs: 100, users: 20, online: 5, batchCalls: 3, watchTrials: 3 });
  const m = report.metrics;
  assert.deepEqual(m.firstErrors, []);
  assert.equal(m.getPresence.requests, 50);
  assert.equal(m.getPresence.failed, 0);
  assert.equal(m.getPresence.latencyMs?.count, 50);
  assert.equal(m.batchGetPresence.jids, 20);
  assert.equal(m.batchGetPresence.latencyMs?.count, 3);
  assert.equal(m.crashToWatch.samplesMs.length, 3);
  assert.equal(m.crashToWatch.missing, 0);
  for (const l of [m.getPresence.latencyMs, m.batchGetPresence.latencyMs, m.crashToWatch.latencyMs]) {
    assert.ok(l !== null && l !== undefined && l.min >= 0 && l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
  }
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'plain JSON');
  assert.match(report.summary, /^grpc: GetPresence at 100\/s/);
});
