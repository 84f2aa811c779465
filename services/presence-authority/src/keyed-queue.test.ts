import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedQueue } from './keyed-queue.js';

test('tasks of one key run one at a time in order; other keys are not held up', async () => {
  const errors: unknown[] = [];
  const q = new KeyedQueue((_k, e) => errors.push(e));
  const log: string[] = [];
  let releaseA: () => void = () => undefined;
  const gate = new Promise<void>((r) => (releaseA = r));
  void q.run('a', async () => {
    await gate;
    log.push('a1');
  });
  void q.run('a', async () => {
    log.push('a2');
  });
  await q.run('b', async () => {
    log.push('b1');
  });
  assert.deepEqual(log, ['b1']);
  releaseA();
  await q.drain();
  assert.deepEqual(log, ['b1', 'a1', 'a2']);
  assert.equal(q.size, 0);
});

test('a failing task is reported and does not stop the next one', async () => {
  const errors: unknown[] = [];
  const q = new KeyedQueue((key, e) => errors.push([key, e]));
  const boom = new Error('boom');
  void q.run('a', async () => {
    throw boom;
  });
  let ran = false;
  await q.run('a', async () => {
    ran = true;
  });
  assert.equal(ran, true);
  assert.deepEqual(errors, [['a', boom]]);
});

test('a key is idle when nothing is queued or running for it', async () => {
  const q = new KeyedQueue(() => undefined);
  assert.equal(q.idle('a'), true);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const running = q.run('a', () => gate);
  assert.equal(q.idle('a'), false);
  assert.equal(q.idle('b'), true);
  release();
  await running;
  await q.drain();
  assert.equal(q.idle('a'), true);
});
