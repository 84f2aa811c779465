import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pooledRandomBytes, randomToken } from './random-pool.js';

test('pooled random bytes are never handed out twice and have the asked size', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const b = pooledRandomBytes(12);
    assert.equal(b.length, 12);
    const hex = b.toString('hex');
    assert.ok(!seen.has(hex), 'a repeated 96-bit value');
    seen.add(hex);
  }
  assert.equal(pooledRandomBytes(0).length, 0);
  assert.equal(pooledRandomBytes(10_000).length, 10_000);
  assert.throws(() => pooledRandomBytes(-1), RangeError);
  assert.match(randomToken(9), /^[A-Za-z0-9_-]{12}$/);
});

test('the bytes look uniform (every byte value appears over 64 KiB)', () => {
  const counts = new Uint32Array(256);
  for (let i = 0; i < 1024; i++) for (const b of pooledRandomBytes(64)) counts[b] = (counts[b] ?? 0) + 1;
  // Expected 256 each; a CSPRNG falls below 150 with negligible probability.
  assert.ok(Math.min(...counts) > 150, `min count ${Math.min(...counts)}`);
});
