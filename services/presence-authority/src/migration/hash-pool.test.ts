import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveScramCredential, verifyPassword } from '@vigil/xmpp';
import { hashAll } from './hash-pool.js';

describe('import hash pool', () => {
  test('derives SHA-1 and SHA-256 keys on worker threads that verify the password', async () => {
    const jobs = Array.from({ length: 40 }, (_, i) => ({ password: `pass-${i}`, iterations: 4096 }));
    const results = await hashAll(jobs, 2);
    assert.equal(results.length, 40);
    for (const [i, r] of results.entries()) {
      assert.equal(r.keep, false);
      if (r.keep) continue;
      assert.deepEqual(r.credentials.map((c) => c.hash), ['sha1', 'sha256']);
      for (const c of r.credentials) assert.ok(await verifyPassword(`pass-${i}`, c), `job ${i} ${c.hash}`);
    }
  });

  test('keeps stored keys that already verify the password, and replaces those that do not', async () => {
    const existing = [await deriveScramCredential('same', 'sha1', 4096), await deriveScramCredential('same', 'sha256', 4096)];
    const [kept, replaced, incomplete] = await hashAll(
      [
        { password: 'same', iterations: 4096, existing },
        { password: 'other', iterations: 4096, existing },
        { password: 'same', iterations: 4096, existing: existing.slice(0, 1) },
      ],
      1,
    );
    assert.equal(kept?.keep, true);
    assert.equal(replaced?.keep, false);
    assert.equal(incomplete?.keep, false, 'an account missing one hash gets both');
  });

  test('nothing to hash starts no thread', async () => {
    assert.deepEqual(await hashAll([], 4), []);
  });
});
