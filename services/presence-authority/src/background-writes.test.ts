import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BackgroundWrites } from './background-writes.js';

/** Waits (turn by turn, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

class Clock {
  ms = 0;
  readonly now = (): number => this.ms;
}

test('deferrable writes wait while more keep coming, and start once they pause for quietMs', async () => {
  const clock = new Clock();
  const w = new BackgroundWrites(4, { quietMs: 50, maxDelayMs: 1000, now: clock.now });
  const started: number[] = [];
  for (let i = 0; i < 3; i++) {
    void w.run(async () => void started.push(i), true);
    clock.ms += 20; // the burst goes on: each 20 ms after the one before
    await turns(5);
  }
  assert.deepEqual(started, [], 'nothing started during the burst');
  assert.equal(w.deferred, 3);
  clock.ms += 50;
  await until(() => started.length === 3, 'the deferred writes start after the pause');
  assert.deepEqual(started, [0, 1, 2], 'in the order they were queued');
});

test('a deferrable write never waits longer than maxDelayMs, however long the burst', async () => {
  const clock = new Clock();
  const w = new BackgroundWrites(4, { quietMs: 50, maxDelayMs: 200, now: clock.now });
  let first = false;
  const all = [w.run(async () => void (first = true), true)];
  for (let t = 0; t < 190; t += 10) {
    clock.ms += 10;
    all.push(w.run(async () => undefined, true));
    await turns(2);
  }
  assert.equal(first, false, 'before maxDelayMs it waits');
  clock.ms += 20;
  all.push(w.run(async () => undefined, true));
  await until(() => first, 'the oldest starts once overdue');
  // The fake clock stands still: the rest would wait for ever (and keep a timer), so they go now.
  w.hurry();
  await Promise.all(all);
});

test('hurryUntilReleased() starts deferrable writes queued after it too, until released', async () => {
  const clock = new Clock(); // stands still: without a hurry nothing deferrable would ever start
  const w = new BackgroundWrites(2, { quietMs: 50, maxDelayMs: 10_000, now: clock.now });
  const release = w.hurryUntilReleased();
  // Queued after the hurry began, as an erasure chained behind a save in flight is.
  let first = false;
  void w.run(async () => void (first = true), true);
  await until(() => first, 'a deferrable write queued during the hurry starts');
  release();
  release(); // twice is harmless
  let late = false;
  void w.run(async () => void (late = true), true);
  await turns(10);
  assert.equal(late, false, 'after the release, deferrable writes wait for a pause again');
  assert.equal(w.deferred, 1);
  w.hurry();
  await until(() => late, 'hurry() starts it');
});

test('urgent writes start at once while deferrable ones wait, and hurry() starts the deferrable ones', async () => {
  const clock = new Clock();
  const w = new BackgroundWrites(2, { quietMs: 50, maxDelayMs: 10_000, now: clock.now });
  const log: string[] = [];
  const deferred = [w.run(async () => void log.push('d1'), true), w.run(async () => void log.push('d2'), true)];
  await w.run(async () => void log.push('u'));
  assert.deepEqual(log, ['u']);
  w.hurry();
  await Promise.all(deferred);
  assert.deepEqual(log, ['u', 'd1', 'd2']);
  assert.equal(w.pending, 0);
});

test('every write runs exactly once, never more than `concurrency` at a time, and urgent ones never wait for a pause', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.record({ deferrable: fc.boolean(), advanceMs: fc.integer({ min: 0, max: 30 }), hurry: fc.boolean() }), { minLength: 1, maxLength: 40 }),
      async (concurrency, ops) => {
        const clock = new Clock();
        const w = new BackgroundWrites(concurrency, { quietMs: 20, maxDelayMs: 60, now: clock.now });
        let running = 0;
        let maxRunning = 0;
        const runs = new Array<number>(ops.length).fill(0);
        const done: Promise<void>[] = [];
        for (const [i, op] of ops.entries()) {
          done.push(
            w.run(async () => {
              runs[i] = (runs[i] ?? 0) + 1;
              running++;
              maxRunning = Math.max(maxRunning, running);
              await new Promise((resolve) => setImmediate(resolve));
              running--;
            }, op.deferrable),
          );
          clock.ms += op.advanceMs;
          if (op.hurry) w.hurry();
        }
        // Urgent ones finish without the clock moving on.
        const urgent = done.filter((_, i) => !ops[i]?.deferrable);
        await Promise.all(urgent);
        w.hurry();
        await Promise.all(done);
        assert.ok(runs.every((n) => n === 1), `runs ${runs.join(',')}`);
        assert.ok(maxRunning <= concurrency, `${maxRunning} at once with concurrency ${concurrency}`);
        assert.equal(w.pending, 0);
      },
    ),
    { numRuns: 60 },
  );
});

test('bad limits are refused, naming them', () => {
  assert.throws(() => new BackgroundWrites(0), /concurrency/);
  assert.throws(() => new BackgroundWrites(2, { quietMs: -1, maxDelayMs: 0, now: () => 0 }), /quietMs/);
});

test('an urgent write with room starts in the same turn as its caller (after the caller\'s synchronous work); without room, or behind a waiting urgent write, it waits its turn', async () => {
  const w = new BackgroundWrites(1, { quietMs: 50, maxDelayMs: 1000, now: () => 0 });
  const order: string[] = [];
  let releaseFirst!: () => void;
  const first = w.run(() => new Promise<void>((resolve) => {
    order.push('first');
    releaseFirst = resolve;
  }));
  order.push('caller done');
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(order, ['caller done', 'first'], 'started before the turn ended, after the synchronous caller');
  const second = w.run(async () => void order.push('second'));
  const third = w.run(async () => void order.push('third'));
  await turns(3);
  assert.deepEqual(order, ['caller done', 'first'], 'no room: the others wait, whatever the turn');
  releaseFirst();
  await first; // room again, but the waiting ones start only on the next turn
  const fourth = w.run(async () => void order.push('fourth'));
  await Promise.all([second, third, fourth]);
  assert.deepEqual(order, ['caller done', 'first', 'second', 'third', 'fourth'], 'a new urgent write does not overtake the waiting ones');
});
