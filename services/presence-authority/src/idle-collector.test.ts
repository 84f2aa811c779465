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

/** A reading; by default V8 last collected a minute ago (a low-rate window) and the young generation is small. */
const idle = (sessions: number, heapMb: number, utilization = 0.02, young: Partial<Pick<IdleReading, 'youngGrown' | 'msSinceGc' | 'allocBytesPerMs'>> = {}): IdleReading => ({
  sessions, heapBytes: heapMb * MB, utilization, youngGrown: false, msSinceGc: 60_000, allocBytesPerMs: 50, ...young,
});
const TICK_MS = 500;

test('after a burst of session changes, the collector collects once, when the sessions have been still for quietTicks ticks', () => {
  const burst = [idle(100, 60, 0.9), idle(900, 90, 0.9), idle(1500, 110, 0.8)];
  const after = Array.from({ length: O.quietTicks + 7 }, () => idle(1500, 110));
  assert.deepEqual(run(idle(0, 50), [...burst, ...after], 55 * MB), [burst.length + O.quietTicks]);
});

test('an authority that serves reads without session changes is never collected, however its heap grows', () => {
  const reads = Array.from({ length: 40 }, (_, i) => idle(100, 50 + i * 5, 0.3));
  assert.deepEqual(run(idle(100, 50), reads), []);
});

test('a busy event loop postpones the collection until the process is quiet', () => {
  const readings = [idle(10, 90), ...Array.from({ length: 6 }, () => idle(10, 90, 0.7)), ...Array.from({ length: O.quietTicks }, () => idle(10, 90))];
  assert.deepEqual(run(idle(0, 50), readings), [readings.length]);
});

test('a burst that grew the heap by less than minGrowthBytes is forgotten without a collection', () => {
  const small = O.minGrowthBytes / MB / 2;
  const readings = [idle(5, 50 + small), ...Array.from({ length: O.quietTicks + 2 }, () => idle(5, 50 + small)), ...Array.from({ length: O.quietTicks + 1 }, () => idle(5, 120))];
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
  const readings = [idle(5000, big), ...Array.from({ length: O.quietTicks + 3 }, () => idle(5000, big))];
  assert.deepEqual(run(idle(0, 40), readings), []);
});

test('after a burst, the collection waits for a window without collections, so V8 may shrink the young generation', () => {
  let s: IdleCollectorState = initialIdleState(idle(0, 50));
  for (const r of [idle(5000, 90, 0.9, { msSinceGc: 10 }), idle(10_000, 120, 0.9, { msSinceGc: 10 })]) s = idleTick(s, r, O).state;
  // Quiet from here; V8's last scavenge was at the burst's end, then one more 2 s into the quiet (trailing writes).
  // The collection shrinks the young generation and is itself the latest collection.
  const collections: number[] = [];
  let lastGcMs = 2000;
  let grown = true;
  for (let i = 1; i <= 40; i++) {
    const t = i * TICK_MS;
    const next = idleTick(s, idle(10_000, 120, 0.02, { youngGrown: grown, msSinceGc: t < 2000 ? t : t - lastGcMs }), O);
    s = next.state;
    if (next.collect) {
      collections.push(t);
      s = collected(s, 60 * MB);
      lastGcMs = t;
      grown = false;
    }
  }
  assert.equal(collections.length, 1, `collected at ${collections.join(', ')} ms into the quiet`);
  assert.equal(collections[0], 2000 + O.gcFreeMs, 'in the first window without collections');
});

test('after a burst, scavenges that never stop postpone the collection only up to maxWaitTicks', () => {
  const burst = [idle(10_000, 120, 0.9, { msSinceGc: 10 })];
  const after = Array.from({ length: O.maxWaitTicks + 5 }, () => idle(10_000, 120, 0.02, { youngGrown: true, msSinceGc: 300 }));
  assert.deepEqual(run(idle(0, 50), [...burst, ...after], 60 * MB), [burst.length + O.maxWaitTicks]);
});

test('a young generation grown without session changes (a bulk import) is collected once, in a window without collections', () => {
  const grown = (msSinceGc: number) => idle(0, 90, 0.02, { youngGrown: true, msSinceGc });
  const readings = [grown(100), grown(600), ...Array.from({ length: 20 }, (_, i) => grown(1100 + i * TICK_MS))];
  const at = run(idle(0, 50), readings);
  assert.equal(at.length, 1, `collected once, at ticks ${at.join(', ')}`);
  const reading = readings[(at[0] ?? 0) - 1];
  assert.ok(reading !== undefined && reading.msSinceGc >= O.gcFreeMs);
});

test('a young generation V8 keeps grown after the try is not collected again until it was small once', () => {
  // Our collection is itself a collection: msSinceGc restarts after it.
  let s: IdleCollectorState = initialIdleState(idle(0, 50));
  const collections: number[] = [];
  let sinceGc = 60_000;
  for (let i = 1; i <= 60; i++) {
    const small = i > 30 && i <= 32; // seen small twice (V8's reducer shrank it), then grown again
    const next = idleTick(s, idle(0, 90, 0.02, { youngGrown: !small, msSinceGc: sinceGc }), O);
    s = next.state;
    sinceGc += TICK_MS;
    if (next.collect) {
      collections.push(i);
      s = collected(s, 60 * MB);
      sinceGc = 0;
    }
  }
  assert.equal(collections.length, 2, `one try before and one after it was small: ticks ${collections.join(', ')}`);
  assert.ok((collections[0] ?? 0) <= 30 && (collections[1] ?? 0) > 32);
});

test('a busy process is never collected for its young generation', () => {
  const readings = Array.from({ length: 30 }, () => idle(100, 90, 0.3, { youngGrown: true, msSinceGc: 60_000 }));
  assert.deepEqual(run(idle(100, 90), readings), []);
});

test('after a burst, a window without collections still waits while the young generation fills fast (trailing writes)', () => {
  let s: IdleCollectorState = initialIdleState(idle(0, 50));
  s = idleTick(s, idle(10_000, 120, 0.9, { msSinceGc: 10 }), O).state;
  // No collection since the burst, but 1,000 bytes/ms allocated for the first 4 s of the quiet (4 MB), then none:
  // the rate since the last collection falls under the limit only after 10 s, not at the 6 s mark.
  let collectedAt: number | undefined;
  for (let i = 1; i <= 60 && collectedAt === undefined; i++) {
    const t = i * TICK_MS;
    const next = idleTick(s, idle(10_000, 120, 0.02, { youngGrown: true, msSinceGc: t, allocBytesPerMs: (1000 * Math.min(t, 4000)) / t }), O);
    s = next.state;
    if (next.collect) collectedAt = t;
  }
  assert.ok(collectedAt !== undefined && collectedAt * O.lowAllocBytesPerMs > 4_000_000 && collectedAt < O.maxWaitTicks * TICK_MS, `collected at ${collectedAt} ms`);
});
