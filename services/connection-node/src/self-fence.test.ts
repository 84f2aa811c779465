import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SelfFence, type FenceVerdict } from './self-fence.js';

// DESIGN.md's defaults: heartbeat 1 s, self-fence 2 s, node lease 3 s; the
// link checks every selfFence / 10.
const TIMINGS = { selfFenceMs: 2000, nodeLeaseMs: 3000, checkPeriodMs: 200 };
const HEARTBEAT_MS = 1000;
const WAKE_LIMIT_MS = (TIMINGS.selfFenceMs + TIMINGS.nodeLeaseMs) / 2;

type Run = {
  /** Every verdict with the time of its check, the last confirmation then, and whether the check ran late (a wake). */
  readonly checks: { at: number; verdict: FenceVerdict; confirmedMs: number; wake: boolean }[];
  readonly fences: string[];
};

/**
 * A node's timers and its NATS link, simulated the way Node runs them: the
 * check on a setInterval, heartbeats on a setTimeout chain with the link's
 * jitter (0.9–1 × interval), each confirmed `rttMs` after it is sent unless
 * lost. While the process is stopped nothing runs; on waking, overdue timers
 * run first (in the order they fell due), then the confirmations that
 * arrived meanwhile (the poll phase). A fence restarts the grace period, as
 * the link does.
 */
function simulate(o: {
  untilMs: number;
  stalls: readonly { at: number; ms: number }[];
  rttMs: (sentAt: number) => number | 'lost';
  jitter: () => number;
}): Run {
  const fence = new SelfFence(TIMINGS, 0);
  let confirmedMs = 0;
  const checks: Run['checks'] = [];
  const fences: string[] = [];
  type Ev = { at: number; kind: 'check' | 'heartbeat' | 'confirm'; sentAt?: number; seq: number };
  let seq = 0;
  const queue: Ev[] = [];
  const push = (e: Omit<Ev, 'seq'>) => queue.push({ ...e, seq: seq++ });
  /** When a thing due at `at` actually runs: at the end of a stall it falls into. */
  const runsAt = (at: number) => {
    for (const s of o.stalls) if (at >= s.at && at < s.at + s.ms) return s.at + s.ms;
    return at;
  };
  let lastCheck = 0;
  const send = (now: number) => {
    fence.sent(now);
    const rtt = o.rttMs(now);
    if (rtt !== 'lost') push({ at: now + rtt, kind: 'confirm', sentAt: now });
  };
  send(0);
  push({ at: TIMINGS.checkPeriodMs, kind: 'check' });
  push({ at: HEARTBEAT_MS * o.jitter(), kind: 'heartbeat' });
  for (;;) {
    // Timers before I/O at the same moment, then in the order they fell due.
    queue.sort((a, b) => runsAt(a.at) - runsAt(b.at) || (a.kind === 'confirm' ? 1 : 0) - (b.kind === 'confirm' ? 1 : 0) || a.at - b.at || a.seq - b.seq);
    const ev = queue.shift();
    if (ev === undefined) break;
    const now = runsAt(ev.at);
    if (now > o.untilMs) break;
    if (ev.kind === 'confirm') {
      fence.confirmed(ev.sentAt ?? 0);
      confirmedMs = Math.max(confirmedMs, ev.sentAt ?? 0);
    } else if (ev.kind === 'heartbeat') {
      send(now);
      push({ at: now + HEARTBEAT_MS * o.jitter(), kind: 'heartbeat' });
    } else {
      const verdict = fence.check(now);
      checks.push({ at: now, verdict, confirmedMs, wake: now - lastCheck >= 2 * TIMINGS.checkPeriodMs });
      lastCheck = now;
      if (verdict.kind === 'publish') send(now);
      if (verdict.kind === 'fence') {
        fences.push(verdict.reason);
        fence.restart(now);
        confirmedMs = now;
        send(now);
      }
      push({ at: now + TIMINGS.checkPeriodMs, kind: 'check' });
    }
  }
  return { checks, fences };
}

const steady = { rttMs: () => 2, jitter: () => 0.95 };

describe('SelfFence', () => {
  test('refuses timings that leave no room before the lease', () => {
    assert.throws(() => new SelfFence({ ...TIMINGS, selfFenceMs: 3000 }, 0), /must be below the node lease/);
    assert.throws(() => new SelfFence({ ...TIMINGS, checkPeriodMs: 1000 }, 0), /under half the self-fence time/);
  });

  test('a healthy link never fences', () => {
    const run = simulate({ untilMs: 30_000, stalls: [], ...steady });
    assert.deepEqual(run.fences, []);
    assert.ok(run.checks.length > 100);
  });

  test('a pause of just over 1 s, just before a heartbeat falls due, does not fence (it read as 2 s of silence)', () => {
    // Heartbeats every 1000 ms: the one before the pause went out at 4000 ms; the next is due at 5000.
    const run = simulate({ untilMs: 10_000, stalls: [{ at: 4995, ms: 1050 }], rttMs: () => 2, jitter: () => 1 });
    assert.deepEqual(run.fences, []);
    const wake = run.checks.find((c) => c.at === 6045);
    assert.ok(wake, 'a check runs on waking');
    assert.ok(wake.at - wake.confirmedMs >= TIMINGS.selfFenceMs, `the silence on waking (${wake.at - wake.confirmedMs} ms) is past the self-fence time, which alone fenced before`);
  });

  test('a stall of the self-fence time fences at once', () => {
    const run = simulate({ untilMs: 10_000, stalls: [{ at: 3000, ms: 2000 }], ...steady });
    assert.equal(run.fences.length, 1);
    assert.match(run.fences[0] ?? '', /^event loop stalled for 2\d\d\d ms$/);
  });

  test('a partition (nothing confirmed) fences within one check of the self-fence time', () => {
    const cut = 5000;
    const run = simulate({ untilMs: 12_000, stalls: [], rttMs: (at) => (at >= cut ? 'lost' : 2), jitter: () => 0.95 });
    const first = run.checks.find((c) => c.verdict.kind === 'fence');
    assert.ok(first, 'fenced');
    assert.match(first.verdict.kind === 'fence' ? first.verdict.reason : '', /^no heartbeat confirmed for \d+ ms$/);
    assert.ok(first.at - first.confirmedMs < TIMINGS.selfFenceMs + TIMINGS.checkPeriodMs, `fenced ${first.at - first.confirmedMs} ms after the last confirmation`);
  });

  test('waking into a partition fences once the wider limit is reached, before the lease', () => {
    const run = simulate({ untilMs: 12_000, stalls: [{ at: 4740, ms: 1000 }], rttMs: (at) => (at >= 4700 ? 'lost' : 2), jitter: () => 0.95 });
    const first = run.checks.find((c) => c.verdict.kind === 'fence');
    assert.ok(first, 'fenced');
    const silence = first.at - first.confirmedMs;
    // The 1 s stall widens the limit by 1 s, capped halfway to the lease.
    assert.ok(silence >= WAKE_LIMIT_MS && silence < WAKE_LIMIT_MS + TIMINGS.checkPeriodMs, `fenced after ${silence} ms of silence`);
  });

  test('property: no check lets the node go on once a lease could have run out on it, and a silence fence comes before the lease', () => {
    // Safety (no zombie): whatever stalls, losses and delays, a check that does not fence happens while the last
    // confirmed heartbeat is younger than the widest limit, itself two check periods under the lease; and a fence
    // for silence made by a check that ran on time comes under two periods after that limit, so still before anyone
    // could declare the node dead. (A check waking from a stall fences as soon as the node runs again: it could not
    // act sooner.)
    const cap = new SelfFence(TIMINGS, 0).wakeCapMs;
    assert.ok(cap <= TIMINGS.nodeLeaseMs - 2 * TIMINGS.checkPeriodMs);
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 20_000 }), ms: fc.integer({ min: 1, max: 3500 }) }), { maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 2600 }),
        fc.double({ min: 0.9, max: 1, noNaN: true }),
        (stalls, cuts, rtt, jitter) => {
          const lost = (at: number) => cuts.some((c) => at >= c && at < c + 1500);
          const run = simulate({ untilMs: 25_000, stalls, rttMs: (at) => (lost(at) ? 'lost' : rtt), jitter: () => jitter });
          for (const c of run.checks) {
            const silence = c.at - c.confirmedMs;
            if (c.verdict.kind !== 'fence') assert.ok(silence < cap, `check at ${c.at} passed ${silence} ms after the last confirmation`);
            // A check counts as on time below two periods late, so one may come almost two periods after the last.
            else if (!c.wake) assert.ok(silence < cap + 2 * TIMINGS.checkPeriodMs, `check at ${c.at} fenced only ${silence} ms after the last confirmation`);
          }
        },
      ),
    );
  });

  test('the limit widens by the stall observed, not more: a short collection pause during a partition fences soon after the self-fence time', () => {
    // A partition from 5 s; a 420 ms pause just after the check at 6.4 s, so the next check runs 421 ms after it.
    // Before, any wake allowed silence up to halfway to the lease (2.5 s): this fenced at 2.67 s.
    const run = simulate({ untilMs: 12_000, stalls: [{ at: 6401, ms: 420 }], rttMs: (at) => (at >= 5000 ? 'lost' : 2), jitter: () => 0.95 });
    assert.ok(run.checks.some((c) => c.wake && c.at === 6821), 'the check after the pause ran late');
    const first = run.checks.find((c) => c.verdict.kind === 'fence');
    assert.ok(first, 'fenced');
    const silence = first.at - first.confirmedMs;
    assert.ok(silence < TIMINGS.selfFenceMs + 421 + TIMINGS.checkPeriodMs, `fenced after ${silence} ms of silence`);
  });

  test('property: a single stall of up to 1.2 s never fences a node whose link works', () => {
    // Liveness (no false offline, DESIGN.md invariant 3): at any phase of the heartbeat, with the
    // link's jitter and round trips up to 20 ms.
    fc.assert(
      fc.property(
        fc.integer({ min: 2000, max: 12_000 }),
        fc.integer({ min: 1, max: 1200 }),
        fc.integer({ min: 0, max: 20 }),
        fc.double({ min: 0.9, max: 1, noNaN: true }),
        (at, ms, rtt, jitter) => {
          const run = simulate({ untilMs: 16_000, stalls: [{ at, ms }], rttMs: () => rtt, jitter: () => jitter });
          assert.deepEqual(run.fences, []);
        },
      ),
      { numRuns: 500 },
    );
  });
});
