import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runMemory } from './scenarios/memory.js';

// A smoke test, not a benchmark: 20 sessions; it proves the scenario logs
// them in and reads every process's RSS. No size is asserted (20 sessions
// are within RSS noise, and growth may even be negative).
test('memory with 20 sessions reads RSS of both nodes and the authority before and after', { timeout: 180_000 }, async () => {
  const report = await runMemory({ sessions: 20, settleMs: 2500 });
  const m = report.metrics;
  assert.equal(m.sessionsLive, 20);
  // One reading a second while settling: at 1 s and 2 s.
  assert.deepEqual(m.settling.map((r) => [r.atSeconds, r.nodesMb.length, r.authorityMb > 0]), [[1, 2, true], [2, 2, true]]);
  for (const r of [m.before, m.after]) {
    assert.equal(r.nodes.length, 2);
    for (const v of [...r.nodes, r.authority]) assert.ok(Number.isSafeInteger(v) && v > 0, `an RSS reading: ${v}`);
  }
  assert.ok(Number.isFinite(m.nodeBytesPerSession) && Number.isFinite(m.authorityBytesPerSession));
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'plain JSON');
  assert.match(report.summary, /^memory: 20 idle authenticated sessions/);
});

test('memory-tls logs its sessions in over direct TLS with a certificate made for the run', { timeout: 180_000 }, async () => {
  const report = await runMemory({ sessions: 10, settleMs: 200, tls: true });
  assert.equal(report.metrics.sessionsLive, 10);
  assert.equal(report.params.tls, true);
  assert.match(report.summary, /^memory-tls: 10 idle authenticated sessions \(direct TLS, empty rosters\)/);
});
