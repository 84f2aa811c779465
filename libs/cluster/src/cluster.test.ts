import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  digestAdd, digestEquals, digestOf, digestRemove, EMPTY_DIGEST, shardFromSubject, shardOf,
  subjects, userFromKey, userKey, SubjectError, deliveryToken,
} from './index.js';

test('the digest of a set does not depend on the order sessions were added', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1 }), { maxLength: 40 }), fc.nat(), (ids, seed) => {
      const shuffled = [...ids].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7));
      assert.ok(digestEquals(digestOf(ids), digestOf(shuffled)));
    }),
  );
});

test('removing a session undoes adding it, and a missing session changes the digest', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 30 }), (ids) => {
      const full = digestOf(ids);
      const [first, ...rest] = ids as [string, ...string[]];
      assert.ok(digestEquals(digestRemove(full, first), digestOf(rest)));
      assert.ok(!digestEquals(full, digestOf(rest)));
      assert.ok(digestEquals(digestRemove(digestAdd(EMPTY_DIGEST, first), first), EMPTY_DIGEST));
    }),
  );
});

test('shards are stable and within range', () => {
  assert.equal(shardOf('alice@localhost'), shardOf('alice@localhost'));
  fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 4096 }), (jid, n) => {
    const s = shardOf(jid, n);
    assert.ok(Number.isInteger(s) && s >= 0 && s < n);
  }));
});

test('user keys are valid KV keys and decode to the same username', () => {
  fc.assert(fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (local) => {
    const key = userKey(local);
    assert.match(key, /^[-_a-z0-9]+$/);
    assert.equal(userFromKey(key), local);
  }));
  assert.equal(userKey('alice'), 'alice');
  assert.equal(userKey('john.doe'), 'john_2edoe');
});

test('subjects carry the shard number and reject unsafe node ids', () => {
  const s = subjects('vigil');
  assert.equal(shardFromSubject(s.shardSession(17), 'vigil'), 17);
  assert.equal(shardFromSubject('vigil.hb.x', 'vigil'), undefined);
  assert.throws(() => s.heartbeat('bad.node'), SubjectError);
  assert.notEqual(s.deliver('alice@localhost'), s.deliver('bob@localhost'));
  assert.match(s.deliver('älice@localhost'), /^vigil\.deliver\.[0-9a-f]{20}$/);
});

test('a delivery token is the first 20 hex digits of the SHA-256 of the JID in UTF-8, whichever hash function computes it', async () => {
  const { createHash } = await import('node:crypto');
  // Every node and authority must derive the same subject for a user, across Node versions and releases.
  assert.equal(deliveryToken('alice@localhost'), createHash('sha256').update('alice@localhost', 'utf8').digest('hex').slice(0, 20));
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (jid) => {
      assert.equal(deliveryToken(jid), createHash('sha256').update(jid, 'utf8').digest('hex').slice(0, 20));
    }),
  );
});

/** FNV-1a over the UTF-8 bytes, as written before the ASCII path existed: the shard of every user must stay where it was. */
function fnv1a32Reference(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

test('shards do not move: the hash equals FNV-1a over the UTF-8 bytes for ASCII and any other text', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
      assert.equal(shardOf(s, 65536), fnv1a32Reference(s) % 65536);
    }),
    { numRuns: 500 },
  );
  assert.equal(shardOf('alice@localhost', 256), fnv1a32Reference('alice@localhost') % 256);
});
