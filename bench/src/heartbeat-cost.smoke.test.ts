import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runHeartbeatCost } from './scenarios/heartbeat-cost.js';

// A smoke test, not a benchmark: two tiny levels; it proves the scenario
// runs, sees the node's heartbeats and counts the sessions in them. No
// timing or rate is asserted.
test('heartbeat-cost at 0 and 10 sessions reports both levels with the sessions in the heartbeat digests', { timeout: 180_000 }, async () => {
  const report = await runHeartbeatCost({ levels: [0, 10], windowMs: 3000 });
  const [empty, ten] = report.metrics.levels;
  assert.ok(empty !== undefined && ten !== undefined, 'two levels');
  assert.equal(empty.sessions, 0);
  assert.equal(empty.sessionsInHeartbeat, 0);
  assert.equal(ten.sessions, 10);
  assert.ok(ten.heartbeats >= 1, 'the node heartbeat was seen');
  assert.equal(ten.sessionsInHeartbeat, 10, 'its digests count every session');
  assert.ok(ten.shardDigests >= 1 && ten.shardDigests <= report.params.shardCount);
  for (const l of [empty, ten]) assert.ok(l.maxHeartbeatBytes <= report.params.heartbeatSizeBoundBytes, `${l.maxHeartbeatBytes} within the bound`);
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'plain JSON');
  assert.match(report.summary, /^heartbeat-cost: /);
});
