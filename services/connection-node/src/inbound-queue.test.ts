import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { InboundQueue } from './inbound-queue.js';

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 100_000 && !cond(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(cond(), 'condition never held');
};

test('every item runs once, in order, after the turn that queued it; a throwing item is reported and the rest run', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 3000 }), fc.integer({ min: 0, max: 3 }), async (throws, sliceMs) => {
      const ran: number[] = [];
      const errors: unknown[] = [];
      const q = new InboundQueue(sliceMs, (e) => errors.push(e));
      throws.forEach((t, i) =>
        q.push(() => {
          ran.push(i);
          if (t) throw new Error(`item ${i}`);
        }),
      );
      assert.deepEqual(ran, [], 'nothing runs in the turn that queued it');
      await until(() => q.length === 0);
      assert.deepEqual(ran, throws.map((_, i) => i));
      assert.deepEqual(errors.map((e) => (e as Error).message), throws.flatMap((t, i) => (t ? [`item ${i}`] : [])));
    }),
    { numRuns: 50 },
  );
});

test('a long backlog is worked off in slices, so other callbacks run in between', async () => {
  const q = new InboundQueue(2, (e) => assert.fail(String(e)));
  let done = 0;
  const busy = () => {
    const end = performance.now() + 0.2;
    while (performance.now() < end);
    done++;
  };
  for (let i = 0; i < 500; i++) q.push(busy); // about 100 ms of work
  let between = -1;
  // Queued after the backlog started: it must not wait for all of it.
  setImmediate(() => setImmediate(() => (between = done)));
  await until(() => q.length === 0);
  assert.ok(between > 0 && between < 500, `another callback ran after ${between} of 500 items`);
});

test('drainAll runs what is queued at once', () => {
  const q = new InboundQueue(1, (e) => assert.fail(String(e)));
  const ran: number[] = [];
  for (let i = 0; i < 10; i++) q.push(() => ran.push(i));
  q.drainAll();
  assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(q.length, 0);
});
