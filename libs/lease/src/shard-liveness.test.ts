import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deathsToDeclare, isFree, judgeLocks, livenessToPurge, livenessToRetire, planShards, type LivenessView, type PlanAction, type ShardKeyView } from './index.js';

const TTL = 3000;
const OWNERS = ['a', 'b', 'c', 'd'];

/** A random observer's view: locks owned by a few replicas, their liveness keys, our own KV health. */
const arbView = fc.record({
  keys: fc.array(
    fc.record({ owner: fc.constantFrom(...OWNERS), revision: fc.integer({ min: 1, max: 1000 }), seenAtMs: fc.integer({ min: 0, max: 20_000 }), ownerLiveness: fc.boolean() }),
    { maxLength: 16 },
  ),
  liveness: fc.dictionary(
    fc.constantFrom(...OWNERS),
    fc.oneof(
      fc.record({ kind: fc.constant('alive' as const), revision: fc.integer({ min: 1, max: 1000 }), seenAtMs: fc.integer({ min: 0, max: 20_000 }) }),
      fc.record({ kind: fc.constant('gone' as const), revision: fc.integer({ min: 1, max: 1000 }), seenAtMs: fc.integer({ min: 0, max: 20_000 }) }),
    ),
  ),
  healthySinceMs: fc.integer({ min: 0, max: 20_000 }),
  watchingSinceMs: fc.integer({ min: 0, max: 20_000 }),
  nowMs: fc.integer({ min: 20_000, max: 30_000 }),
});

const toMaps = (v: { keys: ShardKeyView[]; liveness: Record<string, LivenessView> }) => ({
  shards: new Map<number, ShardKeyView>(v.keys.map((k, shard) => [shard, k])),
  liveness: new Map<string, LivenessView>(Object.entries(v.liveness)),
});
const free = (lock: ReturnType<typeof judgeLocks> extends Map<number, infer L> ? L : never, nowMs: number) => isFree(lock, { self: 'me', members: ['me'], nowMs, lockTtlMs: TTL });

test('a lock is free exactly when its owner was declared gone, or nothing of it (liveness, the lock, our KV health) was seen for a TTL', () => {
  fc.assert(
    fc.property(arbView, (v) => {
      const { shards, liveness } = toMaps(v);
      const judged = judgeLocks({ shards, liveness, healthySinceMs: v.healthySinceMs, watchingSinceMs: v.watchingSinceMs });
      for (const [shard, key] of shards) {
        const lock = judged.get(shard);
        assert.ok(lock !== undefined);
        assert.equal(lock.owner, key.owner);
        assert.equal(lock.revision, key.revision, 'the planner compares-and-sets the lock key itself');
        const live = liveness.get(key.owner);
        let expected: boolean;
        if (!key.ownerLiveness) expected = v.nowMs - Math.max(key.seenAtMs, v.healthySinceMs) >= TTL;
        else if (live?.kind === 'gone') expected = true;
        else expected = v.nowMs - Math.max(key.seenAtMs, live?.seenAtMs ?? v.watchingSinceMs, v.healthySinceMs) >= TTL;
        assert.equal(free(lock, v.nowMs), expected, JSON.stringify({ key, live }));
      }
    }),
  );
});

test('while our own KV access has worked for less than a TTL, only the locks of owners declared gone are free (a JetStream election is not death)', () => {
  fc.assert(
    fc.property(arbView, (v) => {
      const { shards, liveness } = toMaps(v);
      const healthySinceMs = v.nowMs - TTL + 1;
      const judged = judgeLocks({ shards, liveness, healthySinceMs, watchingSinceMs: v.watchingSinceMs });
      for (const [shard, key] of shards) {
        const gone = key.ownerLiveness && liveness.get(key.owner)?.kind === 'gone';
        assert.equal(free(judged.get(shard) as never, v.nowMs), gone);
      }
    }),
  );
});

test("an owner's locks written before its last liveness renewal share its fate: all held, or all free together", () => {
  fc.assert(
    fc.property(arbView, (v) => {
      const { liveness } = toMaps(v);
      // Every key written by its owner before that owner's last liveness renewal seen.
      const shards = new Map<number, ShardKeyView>(v.keys.map((k, shard) => {
        const live = liveness.get(k.owner);
        return [shard, { ...k, ownerLiveness: true, seenAtMs: live?.kind === 'alive' ? Math.min(k.seenAtMs, live.seenAtMs) : k.seenAtMs }];
      }));
      const judged = judgeLocks({ shards, liveness, healthySinceMs: v.healthySinceMs, watchingSinceMs: v.watchingSinceMs });
      for (const owner of OWNERS) {
        if (liveness.get(owner)?.kind !== 'alive') continue;
        const verdicts = new Set([...shards].filter(([, k]) => k.owner === owner).map(([s]) => free(judged.get(s) as never, v.nowMs)));
        assert.ok(verdicts.size <= 1, `owner ${owner}: some locks free, some held`);
      }
    }),
  );
});

test('a replica taking a silent owner’s shards declares exactly that owner dead, at the revision it saw silent', () => {
  fc.assert(
    fc.property(arbView, (v) => {
      const { shards, liveness } = toMaps(v);
      const judged = judgeLocks({ shards, liveness, healthySinceMs: v.healthySinceMs, watchingSinceMs: v.watchingSinceMs });
      const actions: PlanAction[] = planShards({ self: 'a', members: ['a'], shardCount: shards.size, locks: judged, owned: new Set(), nowMs: v.nowMs, lockTtlMs: TTL });
      const deaths = deathsToDeclare('a', actions, shards, liveness);
      const expected = new Map<string, number>();
      for (const act of actions) {
        const key = shards.get(act.shard);
        const live = key === undefined ? undefined : liveness.get(key.owner);
        if (key !== undefined && key.owner !== 'a' && key.ownerLiveness && live?.kind === 'alive') expected.set(key.owner, live.revision);
      }
      assert.deepEqual(deaths, expected);
      // Never ourselves, never an owner declared gone already, never the owner of a lock from before liveness keys.
      assert.ok(!deaths.has('a'));
      for (const owner of deaths.keys()) assert.equal(liveness.get(owner)?.kind, 'alive');
    }),
  );
});

test('examples: a renewed owner keeps an old lock; a deleted liveness frees at once; a legacy lock ignores liveness keys', () => {
  const shards = new Map<number, ShardKeyView>([
    [0, { owner: 'b', revision: 7, seenAtMs: 0, ownerLiveness: true }],
    [1, { owner: 'c', revision: 8, seenAtMs: 9500, ownerLiveness: true }],
    [2, { owner: 'b', revision: 9, seenAtMs: 0, ownerLiveness: false }],
  ]);
  const liveness = new Map<string, LivenessView>([
    ['b', { kind: 'alive', revision: 50, seenAtMs: 9900 }],
    ['c', { kind: 'gone', revision: 51, seenAtMs: 9000 }],
  ]);
  const judged = judgeLocks({ shards, liveness, healthySinceMs: 0, watchingSinceMs: 0 });
  assert.deepEqual([0, 1, 2].map((s) => free(judged.get(s) as never, 10_000)), [false, true, true]);
});

test('a deleted liveness key is purged only once seen deleted long enough, named by no lock, and not our own; up to its marker', () => {
  const GONE_FOR = 30_000;
  fc.assert(
    fc.property(arbView, fc.constantFrom(...OWNERS), fc.integer({ min: 0, max: 60_000 }), (v, self, nowMs) => {
      const { shards, liveness } = toMaps(v);
      const purge = livenessToPurge({ self, shards, liveness, nowMs, goneForMs: GONE_FOR });
      for (const [id, live] of liveness) {
        const named = [...shards.values()].some((k) => k.owner === id);
        const expected = live.kind === 'gone' && id !== self && !named && nowMs - live.seenAtMs >= GONE_FOR;
        assert.equal(purge.has(id), expected, JSON.stringify({ id, live, named, self, nowMs }));
        // Up to the marker seen, never beyond: a newer write of the key is another life of that replica.
        if (expected) assert.equal(purge.get(id), live.revision);
      }
      for (const id of purge.keys()) assert.ok(liveness.has(id), 'only keys seen deleted');
    }),
  );
});

test('example: a departed replica\'s marker is purged once its last lock is gone', () => {
  const liveness = new Map<string, LivenessView>([
    ['b', { kind: 'gone', revision: 40, seenAtMs: 0 }],
    ['c', { kind: 'gone', revision: 41, seenAtMs: 0 }],
    ['d', { kind: 'gone', revision: 42, seenAtMs: 9_000 }],
    ['e', { kind: 'alive', revision: 43, seenAtMs: 0 }],
  ]);
  const shards = new Map<number, ShardKeyView>([[0, { owner: 'c', revision: 7, seenAtMs: 0, ownerLiveness: true }]]);
  assert.deepEqual(livenessToPurge({ self: 'a', shards, liveness, nowMs: 10_000, goneForMs: 5_000 }), new Map([['b', 40]]));
  assert.deepEqual(livenessToPurge({ self: 'a', shards: new Map(), liveness, nowMs: 20_000, goneForMs: 5_000 }), new Map([['b', 40], ['c', 41], ['d', 42]]));
});

test('a liveness key still there is deleted only when silent that long while our KV worked, named by no lock, and not our own', () => {
  const GONE_FOR = 30_000;
  fc.assert(
    fc.property(arbView, fc.constantFrom(...OWNERS), fc.integer({ min: 0, max: 60_000 }), (v, self, nowMs) => {
      const { shards, liveness } = toMaps(v);
      const retire = livenessToRetire({ self, shards, liveness, nowMs, goneForMs: GONE_FOR, healthySinceMs: v.healthySinceMs });
      for (const [id, live] of liveness) {
        const named = [...shards.values()].some((k) => k.owner === id);
        const expected = live.kind === 'alive' && id !== self && !named && nowMs - Math.max(live.seenAtMs, v.healthySinceMs) >= GONE_FOR;
        assert.equal(retire.has(id), expected, JSON.stringify({ id, live, named, self, nowMs }));
        // Deleted by compare-and-set at the revision seen silent: a renewal since makes it fail.
        if (expected) assert.equal(retire.get(id), live.revision);
      }
      // Never both deleted and purged in one step.
      const purge = livenessToPurge({ self, shards, liveness, nowMs, goneForMs: GONE_FOR });
      for (const id of retire.keys()) assert.ok(!purge.has(id));
    }),
  );
});
