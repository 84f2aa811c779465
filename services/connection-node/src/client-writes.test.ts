import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientWrites, type Corked } from './client-writes.js';
import { InboundQueue } from './inbound-queue.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class Conn implements Corked {
  uncorks = 0;
  uncork(): void {
    this.uncorks++;
  }
}

test('outside a burst a corked connection writes at the end of the turn', async () => {
  const w = new ClientWrites(100, () => 0);
  const c = new Conn();
  w.corked(c);
  assert.equal(c.uncorks, 0, 'not within the turn');
  await nextTurn();
  assert.equal(c.uncorks, 1);
});

test('held writes leave when the backlog is worked off or the hold has lasted holdMs, never later', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.array(fc.record({ elapsedMs: fc.integer({ min: 0, max: 80 }), backlog: fc.boolean(), writes: fc.integer({ min: 0, max: 3 }) }), { maxLength: 40 }),
      (holdMs, slices) => {
        let now = 0;
        const w = new ClientWrites(holdMs, () => now);
        const conns = Array.from({ length: 3 }, () => new Conn());
        let heldSince: number | undefined;
        let corkedNotReleased = 0;
        for (const s of slices) {
          w.hold();
          heldSince ??= now;
          for (let i = 0; i < s.writes; i++) {
            w.corked(conns[i] as Conn);
            corkedNotReleased++;
          }
          now += s.elapsedMs;
          const released = w.releaseIfDue(s.backlog);
          const due = !s.backlog || now - heldSince >= holdMs;
          assert.equal(released, due, `released ${released} at ${now} ms (held since ${heldSince}, backlog ${s.backlog})`);
          if (released) {
            assert.equal(conns.reduce((n, c) => n + c.uncorks, 0), corkedNotReleased, 'every held connection wrote');
            assert.equal(w.heldConnections, 0);
            assert.equal(w.holding, false);
            heldSince = undefined;
          } else {
            assert.equal(w.holding, true);
          }
        }
        w.release();
        assert.equal(conns.reduce((n, c) => n + c.uncorks, 0), corkedNotReleased, 'nothing is left corked after release()');
      },
    ),
  );
});

test('holdMs 0 never holds: every corked connection writes at the end of its turn', async () => {
  const w = new ClientWrites(0, () => 0);
  w.hold();
  assert.equal(w.holding, false);
  const c = new Conn();
  w.corked(c);
  assert.equal(w.releaseIfDue(true), false);
  await nextTurn();
  assert.equal(c.uncorks, 1);
});

test('a negative or non-finite hold is refused, naming it', () => {
  assert.throws(() => new ClientWrites(-1, () => 0), /holdMs/);
  assert.throws(() => new ClientWrites(Number.NaN, () => 0), /holdMs/);
});

/** A queued delivery that works for 0.2 ms and then writes to `c` (corks it). */
function busyWrite(w: ClientWrites, c: Conn): () => void {
  return () => {
    const end = performance.now() + 0.2;
    while (performance.now() < end);
    w.corked(c);
  };
}

test('the delivery queue holds client writes across the slices of a backlog and releases them once it is worked off', async () => {
  const w = new ClientWrites(10_000, () => performance.now());
  const q = new InboundQueue(1, (e) => assert.fail(String(e)), w);
  const c = new Conn();
  const busy = busyWrite(w, c);
  for (let i = 0; i < 100; i++) q.push(busy); // about 20 ms of work in 1 ms slices
  let slicesSeen = 0;
  while (q.length > 0) {
    await nextTurn();
    slicesSeen++;
    if (q.length > 0) assert.equal(c.uncorks, 0, 'nothing written while the backlog lasts');
  }
  await nextTurn();
  assert.ok(slicesSeen > 1, 'the backlog took several slices');
  assert.equal(c.uncorks, 100, 'each corked write released once the backlog was worked off');
  assert.equal(w.holding, false);
});

test('a hold ends after holdMs even while the backlog lasts', async () => {
  const w = new ClientWrites(5, () => performance.now());
  const q = new InboundQueue(1, (e) => assert.fail(String(e)), w);
  const c = new Conn();
  const busy = busyWrite(w, c);
  for (let i = 0; i < 200; i++) q.push(busy); // about 40 ms of work
  let writtenDuringBacklog = false;
  while (q.length > 0) {
    await nextTurn();
    if (q.length > 0 && c.uncorks > 0) writtenDuringBacklog = true;
  }
  assert.ok(writtenDuringBacklog, 'held writes left before the backlog ended');
});
