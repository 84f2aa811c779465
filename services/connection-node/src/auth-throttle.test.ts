import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, addressOf } from './auth-throttle.js';

const o = { maxFailures: 3, windowMs: 1000, lockoutMs: 5000 };

test('an account is locked after too many failures in the window, and unlocked when the lockout ends', () => {
  const t = new AuthThrottle(o);
  for (let i = 0; i < 3; i++) t.failure('alice', `10.0.0.${i}`, 100 + i);
  assert.equal(t.locked('alice', '10.0.0.9', 200), 'account');
  assert.equal(t.locked('bob', '10.0.0.9', 200), undefined);
  assert.equal(t.locked('alice', '10.0.0.9', 5103), undefined);
});

test('an address is locked whatever names it tries', () => {
  const t = new AuthThrottle(o);
  ['a', 'b', 'c'].forEach((name, i) => t.failure(name, '192.0.2.7', i));
  assert.equal(t.locked('anyone', '192.0.2.7', 10), 'address');
  assert.equal(t.locked('anyone', '192.0.2.8', 10), undefined);
});

test('failures spread wider than the window never lock, and a success clears the account', () => {
  const t = new AuthThrottle(o);
  for (let i = 0; i < 10; i++) t.failure('alice', `h${i}`, i * 1500);
  assert.equal(t.locked('alice', 'h', 15_000), undefined);
  t.failure('carol', 'x', 0);
  t.failure('carol', 'y', 1);
  t.success('carol');
  t.failure('carol', 'z', 2);
  assert.equal(t.locked('carol', 'w', 3), undefined);
});

test('the table is bounded', () => {
  const t = new AuthThrottle({ ...o, maxEntries: 10 });
  for (let i = 0; i < 1000; i++) t.failure(`u${i}`, `a${i}`, 0);
  for (let i = 0; i < 3; i++) t.failure('u999', `z${i}`, 1);
  assert.equal(t.locked('u999', 'q', 2), 'account');
});

test('addresses lose their port; IPv6 keeps its colons', () => {
  assert.equal(addressOf('127.0.0.1:5555'), '127.0.0.1');
  assert.equal(addressOf('::1:5555'), '::1');
});
