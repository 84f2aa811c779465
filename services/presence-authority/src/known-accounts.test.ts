import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '@vigil/testkit';
import { KnownAccounts } from './known-accounts.js';

test('an account is known only under the epoch it was seen in, until forgotten or older than the TTL', () => {
  const clock = new FakeClock();
  const known = new KnownAccounts(10, 1000, () => clock.now());
  assert.equal(known.has('a@x', 5), false);
  known.add('a@x', 5);
  assert.equal(known.has('a@x', 5), true);
  assert.equal(known.has('a@x', 6), false, 'a new epoch starts from nothing');
  assert.equal(known.has('a@x', 5), false, 'and the stale entry is gone');
  known.add('a@x', 6);
  clock.advance(1000);
  assert.equal(known.has('a@x', 6), true);
  clock.advance(1);
  assert.equal(known.has('a@x', 6), false, 'past the TTL the store is asked again');
  known.add('b@x', 6);
  known.forget('b@x');
  assert.equal(known.has('b@x', 6), false);
});

test('at the maximum the least recently used account is dropped', () => {
  const known = new KnownAccounts(2, 1000, () => 0);
  known.add('a@x', 1);
  known.add('b@x', 1);
  assert.equal(known.has('a@x', 1), true);
  known.add('c@x', 1);
  assert.equal(known.size, 2);
  assert.equal(known.has('b@x', 1), false);
  assert.equal(known.has('a@x', 1), true);
});
