import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { digestEquals, digestKey, digestOf } from '@vigil/cluster';
import { SessionRegistry, type SessionRecord } from './registry.js';

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
      for (const node of ['n1', 'n2']) {
        for (const inc of ['a', 'b']) {
          for (let shard = 0; shard < 4; shard++) {
            const held = [...byId.values()].filter((r) => r.nodeId === node && r.incarnation === inc && r.shard === shard);
            assert.ok(digestEquals(reg.digest(node, inc, shard), digestOf(held.map((r) => digestKey(r.sessionId, r.presenceSeq)))));
          }
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
