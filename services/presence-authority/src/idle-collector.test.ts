import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collected, IDLE_COLLECTOR_DEFAULTS as O, idleTick, initialIdleState, type IdleCollectorState, type IdleReading } from './idle-collector.js';

const MB = 1024 * 1024;

/** Runs readings through idleTick from a first reading; returns the tick numbers (1-based) that collected. */
function run(first: IdleReading, readings: readonly IdleReading[], heapAfterCollection = first.heapBytes): number[] {
  let s: IdleCollectorState = initialIdleState(first);
  const at: number[] = [];
  readings.forEach((r, i) => {
    const next = idleTick(s, r, O);
    s = next.state;
    if (next.collect) {
      at.push(i + 1);
      s = collected(s, heapAfterCollection);
    }
  });
  return at;
}

const idle = (sessions: number, heapMb: number, utilization = 0.02): IdleReading => ({ sessions, heapBytes: heapMb * MB, utilization });

test('after a burst of session changes, the collector collects once, when the sessions have been still for quietTicks ticks', () => {
  const burst = [idle(100, 60, 0.9), idle(900, 90, 0.9), idle(1500, 110, 0.8)];
  const after = Array.from({ length: 10 }, () => idle(1500, 110));
  assert.deepEqual(run(idle(0, 50), [...burst, ...after], 55 * MB), [burst.length + O.quietTicks]);
});

test('an authority that serves reads without session changes is never collected, however its heap grows', () => {
  const reads = Array.from({ length: 40 }, (_, i) => idle(100, 50 + i * 5, 0.3));
  assert.deepEqual(run(idle(100, 50), reads), []);
});

test('a busy event loop postpones the collection until the process is quiet', () => {
  const readings = [idle(10, 90), ...Array.from({ length: 6 }, () => idle(10, 90, 0.7)), idle(10, 90), idle(10, 90), idle(10, 90)];
  assert.deepEqual(run(idle(0, 50), readings), [readings.length]);
});

test('a burst that grew the heap by less than minGrowthBytes is forgotten without a collection', () => {
  const small = O.minGrowthBytes / MB / 2;
  const readings = [idle(5, 50 + small), ...Array.from({ length: 5 }, () => idle(5, 50 + small)), idle(5, 120), idle(5, 120), idle(5, 120), idle(5, 120)];
  assert.deepEqual(run(idle(0, 50), readings), [], 'later growth without session changes does not revive the old burst');
});

test('each burst gets its own collection', () => {
  const quiet = (n: number, mb: number) => Array.from({ length: O.quietTicks + 1 }, () => idle(n, mb));
  const readings = [idle(500, 80), ...quiet(500, 80), idle(0, 90), ...quiet(0, 90)];
  assert.deepEqual(run(idle(0, 50), readings, 55 * MB), [1 + O.quietTicks, 2 + O.quietTicks + 1 + O.quietTicks]);
});

test('steady churn of a few sessions a tick still counts as quiet: the collection after a burst happens', () => {
  const burst = [idle(10_000, 60, 0.9), idle(20_000, 58, 0.9)];
  const churn = Array.from({ length: O.quietTicks + 1 }, (_, i) => idle(20_000 + (i % 2 === 0 ? 3 : -2), 58));
  assert.deepEqual(run(idle(0, 40), [...burst, ...churn], 45 * MB), [burst.length + O.quietTicks]);
});

test('more than the churn allowance in a tick is a burst: the quiet count starts again', () => {
  const step = Math.max(O.churnSessions, O.churnFraction * 1000) + 1;
  const readings = [idle(1000, 60), idle(1000, 60), idle(1000 + step, 60), ...Array.from({ length: O.quietTicks }, () => idle(1000 + step, 60))];
  assert.deepEqual(run(idle(0, 40), readings, 45 * MB), [3 + O.quietTicks], 'without the reset it would collect at tick 4');
});

test('a heap above maxHeapBytes is never force-collected (the pause would be too long); the burst is forgotten', () => {
  const big = O.maxHeapBytes / MB + 10;
  const readings = [idle(5000, big), ...Array.from({ length: 6 }, () => idle(5000, big))];
  assert.deepEqual(run(idle(0, 40), readings), []);
});
