import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failed, runChaos } from './chaos/run.js';

// The chaos suite at its smallest, so `npm test` keeps it working: a small
// population, two scenarios, one trial each. `npm run chaos` is the real run.
test('chaos smoke: a killed node and a killed authority keep every invariant', async () => {
  const outcomes = await runChaos({
    users: 24, contacts: 4, trials: 1, scenarios: ['kill-node', 'kill-authority'], nodes: 2, authorities: 2, natsServers: 1,
  });
  assert.deepEqual(outcomes.map((o) => o.scenario), ['kill-node', 'kill-authority']);
  const node = outcomes[0];
  assert.ok(node && node.totals.expected > 0, 'the node kill must call for announcements');
  assert.equal(node.latency?.count, node.totals.expected - node.totals.missing);
  for (const o of outcomes) assert.equal(failed(o), false, `${o.scenario}: ${JSON.stringify(o.totals)} ${o.trials.flatMap((t) => t.examples).join('; ')}`);
  assert.ok(outcomes[1]?.trials[0]?.reownedMs !== undefined, "the killed replica's shards were all taken over (within 30 s)");
});

test('chaos smoke: a node cut off from NATS fences itself before its users are announced', async () => {
  const [partition] = await runChaos({
    users: 16, contacts: 3, trials: 1, scenarios: ['partition-node'], nodes: 2, authorities: 1, natsServers: 1,
  });
  assert.ok(partition && partition.totals.expected > 0, 'the partition must call for announcements');
  assert.equal(failed(partition), false, `${JSON.stringify(partition.totals)} ${partition.trials.flatMap((t) => t.examples).join('; ')}`);
});
