import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaseTable } from './index.js';

test('a node that keeps heartbeating inside the lease never expires', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  assert.equal(t.heartbeat('n1', 'i1', 0).kind, 'new');
  for (let now = 1000; now <= 60_000; now += 1000) {
    assert.equal(t.heartbeat('n1', 'i1', now).kind, 'renewed');
    assert.deepEqual(t.expire(now + 2999), []);
  }
});

test('a silent node expires exactly when its lease runs out, once', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  t.heartbeat('n1', 'i1', 1000);
  assert.deepEqual(t.expire(3999), []);
  assert.deepEqual(t.expire(4000).map((l) => l.incarnation), ['i1']);
  assert.deepEqual(t.expire(10_000), []);
  assert.equal(t.isLive('n1', 'i1'), false);
});

test('a new incarnation replaces the old one at once, and the old one cannot come back', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  t.heartbeat('n1', 'i1', 0);
  const outcome = t.heartbeat('n1', 'i2', 500);
  assert.equal(outcome.kind, 'replaced');
  assert.equal(outcome.kind === 'replaced' && outcome.previous.incarnation, 'i1');
  assert.equal(t.heartbeat('n1', 'i1', 600).kind, 'stale');
  assert.equal(t.isLive('n1', 'i2'), true);
});

test('an expired incarnation that heartbeats late is stale, not new', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  t.heartbeat('n1', 'i1', 0);
  t.expire(5000);
  assert.equal(t.heartbeat('n1', 'i1', 5001).kind, 'stale');
});

test('after a partition of our own, every node gets a fresh lease', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  t.heartbeat('n1', 'i1', 0);
  t.heartbeat('n2', 'i1', 0);
  t.refreshAll(10_000);
  assert.deepEqual(t.expire(12_999), []);
  assert.equal(t.expire(13_000).length, 2);
});

test('nextExpiryMs is the minimum expiry and expire() returns exactly the leases due', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.nat(10_000)), { maxLength: 30 }), fc.nat(20_000), (beats, now) => {
      const t = new LeaseTable({ leaseMs: 3000 });
      const sorted = [...beats].sort((x, y) => x[1] - y[1]);
      for (const [node, at] of sorted) t.heartbeat(node, 'i', at);
      const before = t.list();
      const next = t.nextExpiryMs();
      if (before.length > 0) assert.equal(next, Math.min(...before.map((l) => l.expiresAtMs)));
      const expired = t.expire(now);
      assert.deepEqual(expired.map((l) => l.nodeId).sort(), before.filter((l) => l.expiresAtMs <= now).map((l) => l.nodeId).sort());
    }),
  );
});

test('adopting an incarnation from the registry starts a lease only for one never heard of', () => {
  const t = new LeaseTable({ leaseMs: 3000 });
  assert.equal(t.adopt('n1', 'i1', 0), 'started');
  assert.equal(t.adopt('n1', 'i1', 100), 'live');
  assert.deepEqual(t.expire(2999), []);
  assert.equal(t.expire(3000).length, 1, 'a node that never heartbeats expires one lease after the takeover');
  assert.equal(t.adopt('n1', 'i1', 4000), 'ended');
  t.heartbeat('n2', 'new', 0);
  assert.equal(t.adopt('n2', 'old', 10), 'superseded');
  assert.equal(t.isLive('n2', 'new'), true, 'adoption never displaces a live incarnation');
});
