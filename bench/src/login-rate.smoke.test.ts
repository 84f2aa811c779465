import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoginRate } from './scenarios/login-rate.js';

// A smoke test, not a benchmark: the scenario runs end to end (warm-up
// population included) and reports well-formed figures. No timing bound.
test('login-rate at 40 users after 20 warm-up logins: 40 logins, none failed, rosters as provisioned, CPU per process reported', { timeout: 180_000 }, async () => {
  const report = await runLoginRate({ users: 40, contacts: 4, concurrency: 8, warmup: 20 });
  const m = report.metrics;
  assert.deepEqual(m.firstErrors, []);
  assert.equal(m.failed, 0);
  assert.equal(m.protocolProblems, 0);
  assert.equal(m.latency?.count, 40);
  assert.ok(m.loginsPerSecond > 0, `a rate: ${m.loginsPerSecond}`);
  const cpu = m.cpuMsPerLogin;
  assert.ok(cpu !== null, 'CPU per login');
  for (const v of [cpu.nodes, cpu.authority, cpu.loadGenerator, cpu.total]) assert.ok(Number.isFinite(v) && v >= 0, `finite, non-negative: ${v}`);
  assert.equal(report.params.warmupLogins, 20);
  assert.equal(report.scenario, 'login-rate');
  assert.match(report.summary, /^login-rate: 40 full logins .*after 20 warm-up logins.*, 0 failed, 0 protocol problems/);
});
