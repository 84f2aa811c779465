import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '@vigil/testkit';
import { BackgroundWrites } from './background-writes.js';

test('writes wait while presence work piles up, and start once it is done', { timeout: 10_000 }, async () => {
  let busy = true;
  const writes = new BackgroundWrites(4, () => busy);
  const started: number[] = [];
  const done = Promise.all([1, 2, 3].map((n) => writes.run(async () => void started.push(n))));
  await sleep(30);
  assert.deepEqual(started, [], 'nothing starts while busy');
  busy = false;
  await done;
  assert.deepEqual(started, [1, 2, 3]);
});

test('a busy spell holds writes back for a bounded time only, then lets its backlog through', { timeout: 10_000 }, async () => {
  const clock = new FakeClock();
  const writes = new BackgroundWrites(1, () => true, clock.now);
  const started: number[] = [];
  const done = Promise.all([1, 2, 3].map((n) => writes.run(async () => void started.push(n))));
  await sleep(30);
  assert.deepEqual(started, []);
  clock.advance(1000);
  // One at a time (concurrency 1), and none held again while the backlog lasts.
  await done;
  assert.deepEqual(started, [1, 2, 3]);
});
