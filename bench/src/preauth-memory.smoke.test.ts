import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPreauthMemory } from './scenarios/preauth-memory.js';

// A smoke test, not a benchmark: the scenario runs end to end and reports
// well-formed figures; no memory bound is asserted here.
test('preauth-memory with 20 connections opens them all and reports RSS figures', { timeout: 120_000 }, async () => {
  const report = await runPreauthMemory({ connections: 20, concurrency: 5 });
  const m = report.metrics;
  assert.equal(m.opened, 20);
  assert.equal(m.failed, 0);
  for (const v of [m.rssBeforeBytes, m.rssOpenBytes, m.rssAfterCloseBytes]) assert.ok(Number.isInteger(v) && v > 0, `an RSS reading: ${v}`);
  assert.ok(m.bytesPerConnection !== null && Number.isFinite(m.bytesPerConnection));
  assert.match(report.summary, /^preauth-memory: 20 unauthenticated streams \(0 failed\)/);
});
