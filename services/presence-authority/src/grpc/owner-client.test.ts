import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { shardOf, subjects } from '@vigil/cluster';
import type { admin } from '@vigil/proto';
import { OwnerClient, type LocalOwner } from './owner-client.js';

const SHARDS = 8;
const user = (bareJid: string, counter: number): admin.UserSessions => ({ bareJid, sessions: [], epoch: 7, counter });

/** A local owner of every shard that can answer `now` at once and the others only through its queued path. */
function localOwner(now: ReadonlySet<string>) {
  const asked: string[][] = [];
  const owner: LocalOwner = {
    epochOf: () => 7,
    presenceNow: (shard, bare) => {
      assert.equal(shard, shardOf(bare, SHARDS));
      return now.has(bare) ? user(bare, 1) : undefined;
    },
    answer: async (_shard, req) => {
      assert.equal(req.op?.$case, 'presence');
      const jids = req.op.$case === 'presence' ? req.op.presence.bareJids : [];
      asked.push([...jids]);
      return { result: { $case: 'presence', presence: { users: jids.map((j) => user(j, 2)) } } };
    },
  };
  return { owner, asked };
}

const client = (local: LocalOwner) =>
  // No NATS: every shard is local, so nothing may go over it.
  new OwnerClient({ nc: undefined as unknown as NatsConnection, subjects: subjects('vigil'), shardCount: SHARDS, timeoutMs: 1000, retryAfterMs: 100, local });

test('users the local owner can read at once are answered without its queue; the others are asked once per shard, duplicates once', async () => {
  const jids = ['a@x', 'b@x', 'c@x', 'd@x', 'e@x', 'f@x', 'g@x', 'h@x'];
  const { owner, asked } = localOwner(new Set(['a@x', 'c@x', 'e@x']));
  const out = await client(owner).presence([...jids, 'b@x', 'a@x'], Infinity);
  assert.deepEqual([...out.keys()].sort(), jids);
  for (const j of ['a@x', 'c@x', 'e@x']) assert.equal(out.get(j)?.counter, 1, j);
  for (const j of ['b@x', 'd@x', 'f@x', 'g@x', 'h@x']) assert.equal(out.get(j)?.counter, 2, j);
  const askedJids = asked.flat().sort();
  assert.deepEqual(askedJids, ['b@x', 'd@x', 'f@x', 'g@x', 'h@x'], 'each remaining user asked exactly once');
  for (const group of asked) assert.equal(new Set(group.map((j) => shardOf(j, SHARDS))).size, 1, 'one request per shard');
});

test('a local owner without the at-once read takes the queued path for every user', async () => {
  const { owner, asked } = localOwner(new Set());
  const { presenceNow: _unused, ...withoutNow } = owner;
  const out = await client(withoutNow).presence(['a@x', 'b@x'], Infinity);
  assert.equal(out.get('a@x')?.counter, 2);
  assert.equal(out.get('b@x')?.counter, 2);
  assert.equal(asked.flat().length, 2);
});
