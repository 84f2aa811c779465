import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fairShare, planShards, type LockView, type PlanInput } from './index.js';

const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  self: 'a', members: ['a'], shardCount: 8, locks: new Map(), owned: new Set(), nowMs: 10_000, lockTtlMs: 3000, ...over,
});

test('a lone replica takes every free shard', () => {
  const actions = planShards(base());
  assert.equal(actions.length, 8);
  assert.ok(actions.every((a) => a.kind === 'acquire' && a.expectedRevision === 0));
});

test('a lock whose revision moved within the TTL is held; one silent for a TTL is free', () => {
  const locks = new Map<number, LockView>([
    [0, { owner: 'b', revision: 5, seenAtMs: 9000 }],
    [1, { owner: 'b', revision: 6, seenAtMs: 6999 }],
  ]);
  const actions = planShards(base({ shardCount: 2, locks }));
  assert.deepEqual(actions, [{ kind: 'acquire', shard: 1, expectedRevision: 6 }]);
});

test('with two replicas nobody takes more than half', () => {
  const actions = planShards(base({ members: ['a', 'b'] }));
  assert.equal(actions.filter((a) => a.kind === 'acquire').length, 4);
});

test('a replica above its share gives shards back only while another starves', () => {
  const owned = new Set([0, 1, 2, 3, 4, 5, 6, 7]);
  const locks = new Map<number, LockView>([...owned].map((s) => [s, { owner: 'a', revision: s + 1, seenAtMs: 9900 }]));
  const released = planShards(base({ members: ['a', 'b'], owned, locks }));
  assert.equal(released.filter((a) => a.kind === 'release').length, 4);
  // Nobody else alive: keep everything.
  assert.deepEqual(planShards(base({ members: ['a'], owned, locks })), []);
});

test('replicas planning from the same view never want the same shard twice, and never exceed a fair share', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 64 }), (replicas, shardCount) => {
      const members = Array.from({ length: replicas }, (_, i) => `r${i}`);
      const share = fairShare(shardCount, replicas);
      const taken = new Map<number, string>();
      // Each replica in turn plans, and wins every free shard it asks for.
      for (const self of members) {
        const locks = new Map<number, LockView>([...taken].map(([s, owner]) => [s, { owner, revision: 1, seenAtMs: 9999 }]));
        const owned = new Set([...taken].filter(([, o]) => o === self).map(([s]) => s));
        for (const a of planShards(base({ self, members, shardCount, locks, owned }))) {
          assert.equal(a.kind, 'acquire');
          assert.ok(!taken.has(a.shard), `shard ${a.shard} taken twice`);
          taken.set(a.shard, self);
        }
      }
      for (const m of members) assert.ok([...taken.values()].filter((o) => o === m).length <= share);
      assert.equal(taken.size, Math.min(shardCount, share * replicas));
    }),
  );
});
