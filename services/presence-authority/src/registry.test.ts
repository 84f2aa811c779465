import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { digestEquals, digestKey, digestOf } from '@vigil/cluster';
import { jidsWith, jidsWithout, NO_JIDS, SessionRegistry, type SessionRecord } from './registry.js';

const record = (id: string, user: string, node: string, inc: string, shard: number): SessionRecord => ({
  sessionId: id, fullJid: `${user}/r-${id}`, bareJid: user, shard, nodeId: node, incarnation: inc,
  available: true, presenceXml: '', priority: 0, presenceSeq: 0, availableSinceUnixMs: 0, directedTo: new Set(), presenceErrorsFrom: new Set(),
});

test('per-incarnation shard digests always equal the digest of the sessions held', () => {
  const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 }), fc.constantFrom('n1', 'n2'), fc.constantFrom('a', 'b'), fc.integer({ min: 0, max: 3 }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const reg = new SessionRegistry();
      const byId = new Map<string, SessionRecord>();
      for (const [add, n, node, inc, shard] of ops) {
        const id = `s${n}`;
        if (add && !byId.has(id)) {
          const r = record(id, `u${n % 5}@x`, node, inc, shard);
          reg.add(r);
          byId.set(id, r);
        } else if (!add && byId.has(id)) {
          assert.ok(reg.remove(byId.get(id) as SessionRecord));
          byId.delete(id);
        }
      }
      assert.equal(reg.size, byId.size);
      for (let u = 0; u < 5; u++) {
        // A user's sessions, whether one or several, in the order they were added.
        assert.deepEqual(reg.sessionsOf(`u${u}@x`), [...byId.values()].filter((r) => r.bareJid === `u${u}@x`));
      }
      for (const node of ['n1', 'n2']) {
        for (const inc of ['a', 'b']) {
          for (let shard = 0; shard < 4; shard++) {
            const held = [...byId.values()].filter((r) => r.nodeId === node && r.incarnation === inc && r.shard === shard);
            assert.ok(digestEquals(reg.digest(node, inc, shard), digestOf(held.map((r) => digestKey(r.sessionId, r.presenceSeq)))));
          }
          // digestsOf: exactly the shards with sessions, each with the same digest as digest() gives.
          const all = reg.digestsOf(node, inc);
          const withSessions = new Set([...byId.values()].filter((r) => r.nodeId === node && r.incarnation === inc).map((r) => r.shard));
          assert.deepEqual(new Set(all?.keys() ?? []), withSessions);
          for (const [shard, d] of all ?? []) assert.ok(digestEquals(d, reg.digest(node, inc, shard)));
          assert.equal(reg.sessionsOfIncarnation(node, inc).length, [...byId.values()].filter((r) => r.nodeId === node && r.incarnation === inc).length);
        }
        // The sessions gauge: every incarnation of a node summed, and nodes without sessions absent.
        const held = [...byId.values()].filter((r) => r.nodeId === node).length;
        assert.equal(reg.countByNode().get(node), held === 0 ? undefined : held);
      }
    }),
  );
});

test('a new presence number moves the digest, and the digest follows the number', () => {
  const reg = new SessionRegistry();
  const r = record('s1', 'u@x', 'n1', 'a', 0);
  reg.add(r);
  const before = reg.digest('n1', 'a', 0);
  reg.setPresenceSeq(r, 3);
  assert.ok(!digestEquals(before, reg.digest('n1', 'a', 0)), 'a lost broadcast must show in the digest');
  assert.ok(digestEquals(reg.digest('n1', 'a', 0), digestOf([digestKey('s1', 3)])));
  reg.remove(r);
  assert.equal(reg.digest('n1', 'a', 0).count, 0);
});

test('removing a record twice, or a stale copy, changes nothing', () => {
  const reg = new SessionRegistry();
  const r = record('s1', 'u@x', 'n1', 'a', 0);
  reg.add(r);
  assert.equal(reg.remove(record('s1', 'u@x', 'n1', 'a', 0)), false);
  assert.equal(reg.remove(r), true);
  assert.equal(reg.remove(r), false);
  assert.equal(reg.digest('n1', 'a', 0).count, 0);
});

test('other incarnations of a node are found for expiry on restart', () => {
  const reg = new SessionRegistry();
  reg.add(record('s1', 'u@x', 'n1', 'old', 0));
  reg.add(record('s2', 'v@x', 'n1', 'new', 0));
  reg.add(record('s3', 'w@x', 'n2', 'old', 0));
  assert.deepEqual(reg.otherIncarnations('n1', 'new'), ['old']);
});

test('directed-presence sets start as the shared empty set and return to it when emptied', () => {
  let set = jidsWith(NO_JIDS, 'a@x/r');
  assert.notEqual(set, NO_JIDS);
  assert.equal(NO_JIDS.size, 0, 'the shared empty set is never written');
  set = jidsWith(set, 'b@x');
  assert.deepEqual([...set], ['a@x/r', 'b@x']);
  assert.equal(jidsWithout(set, 'c@x'), set);
  set = jidsWithout(jidsWithout(set, 'a@x/r'), 'b@x');
  assert.equal(set, NO_JIDS);
  assert.equal(jidsWithout(NO_JIDS, 'a@x'), NO_JIDS);
});

test('a record of a known incarnation takes the id strings the registry holds; an unknown one keeps its own', () => {
  const reg = new SessionRegistry();
  assert.deepEqual(reg.canonicalIncarnation('n1', 'a'), { nodeId: 'n1', incarnation: 'a' });
  reg.add(record('s1', 'u@x', 'n1', 'a', 0));
  const c = reg.canonicalIncarnation('n1', 'a');
  assert.equal(c.nodeId, 'n1');
  assert.equal(c.incarnation, 'a');
  reg.add(record('s2', 'v@x', 'n1', 'a', 1));
  reg.add(record('s3', 'v@x', 'n1', 'a', 1));
  assert.deepEqual(reg.sessionsOf('v@x').map((r) => r.sessionId), ['s2', 's3']);
  reg.remove(reg.sessionsOf('v@x')[0] as SessionRecord);
  assert.deepEqual(reg.sessionsOf('v@x').map((r) => r.sessionId), ['s3']);
});
