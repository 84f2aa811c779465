import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '@vigil/testkit';
import { BackgroundWrites } from './background-writes.js';

/** Resolves once `cond` holds, polling each turn; fails after a generous deadline. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('writes wait while presence work piles up, and start once it is done', async () => {
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

test('a busy spell holds writes back for a bounded time only', async () => {
  const clock = new FakeClock();
  const writes = new BackgroundWrites(4, () => true, clock.now);
  let started = false;
  const done = writes.run(async () => {
    started = true;
  });
  await sleep(30);
  assert.equal(started, false);
  clock.advance(1000);
  await until(() => started, 'the held write');
  await done;
  // Still the same busy spell: the next write is not held again.
  let second = false;
  await writes.run(async () => {
    second = true;
  });
  assert.equal(second, true);
});
