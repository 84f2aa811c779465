import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { cluster } from '@vigil/proto';
import { LATENCY_BUCKETS_S, type HistogramReading, type MetricsReading } from '@vigil/telemetry';
import { replicaReply, sumReplies } from './detection-metrics.js';
import { DETECTION_LATENCY, FANOUT_STANZAS } from './metrics.js';

const BOUNDS = [...LATENCY_BUCKETS_S];
const NO_RATE = { perSecond: 0, windowMs: 0 };

/** Observations bucketed the way the OpenTelemetry SDK does (a value equal to a bound counts in that bucket). */
function observed(cause: string, seconds: readonly number[], bounds = BOUNDS): HistogramReading {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const v of seconds) {
    const i = bounds.findIndex((b) => v <= b);
    const at = i < 0 ? bounds.length : i;
    counts[at] = (counts[at] ?? 0) + 1;
  }
  return { labels: { cause }, boundaries: bounds, counts, sum: seconds.reduce((s, v) => s + v, 0), count: seconds.length };
}

function reading(histograms: HistogramReading[], unavailable = 0, available = 0): MetricsReading {
  return {
    histograms: new Map([[DETECTION_LATENCY, histograms]]),
    counters: new Map([[FANOUT_STANZAS, [{ labels: { kind: 'unavailable' }, value: unavailable }, { labels: { kind: 'available' }, value: available }]]]),
  };
}

const reply = (id: string, r: MetricsReading, rates = { available: NO_RATE, unavailable: NO_RATE }): cluster.AuthorityMetricsReply => replicaReply(id, r, rates, 1000);

test("a replica's reply carries its histogram per cause and its fan-out totals with their rates", () => {
  const r = reply('a1', reading([observed('node-lost', [2.5]), observed('client-lost', [0.002, 0.004])], 7, 3), {
    available: NO_RATE,
    unavailable: { perSecond: 1.5, windowMs: 10_000 },
  });
  assert.deepEqual(r.detectionLatency.map((d) => [d.cause, d.histogram?.count]), [['client-lost', 2], ['node-lost', 1]]);
  assert.deepEqual(r.fanOut, [
    { kind: 'available', total: 3, perSecond: 0, windowMs: 0 },
    { kind: 'unavailable', total: 7, perSecond: 1.5, windowMs: 10_000 },
  ]);
});

test('the sum over replicas is the histogram of every observation of every replica, per cause', () => {
  const cause = fc.constantFrom('client-lost', 'node-lost', 'graceful', 'kicked');
  const latencies = fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { maxLength: 20 });
  const replica = fc.array(fc.tuple(cause, latencies), { maxLength: 4 });
  fc.assert(
    fc.property(fc.array(replica, { minLength: 1, maxLength: 4 }), (replicas) => {
      // One series per cause per replica, as the SDK keeps them.
      const perReplica = replicas.map((series) => {
        const byCause = new Map<string, number[]>();
        for (const [c, xs] of series) byCause.set(c, [...(byCause.get(c) ?? []), ...xs]);
        return byCause;
      });
      const replies = perReplica.map((byCause, i) => reply(`a${i}`, reading([...byCause].map(([c, xs]) => observed(c, xs)), i)));
      const [own, ...others] = replies;
      assert.ok(own);
      const sum = sumReplies(own, others, [], 5);
      const all = new Map<string, number[]>();
      for (const byCause of perReplica) for (const [c, xs] of byCause) all.set(c, [...(all.get(c) ?? []), ...xs]);
      assert.deepEqual(sum.detectionLatency.map((d) => d.cause), [...all.keys()].sort());
      for (const d of sum.detectionLatency) {
        const expected = observed(d.cause, all.get(d.cause) ?? []);
        assert.deepEqual(d.histogram?.counts, expected.counts);
        assert.equal(d.histogram?.count, expected.count);
        assert.ok(Math.abs((d.histogram?.sumSeconds ?? 0) - expected.sum) < 1e-6);
        assert.deepEqual(d.histogram?.boundsSeconds, BOUNDS);
      }
      assert.equal(sum.fanOut.find((f) => f.kind === 'unavailable')?.total, replies.reduce((s, _, i) => s + i, 0));
      assert.deepEqual(sum.authorities.map((a) => a.authorityId), replies.map((r) => r.authorityId).sort());
    }),
  );
});

test('rates are summed over the replicas that have one; the missing and the incompatible are named', () => {
  const own = reply('a1', reading([observed('client-lost', [0.01])], 10), { available: NO_RATE, unavailable: { perSecond: 2, windowMs: 10_000 } });
  const b = reply('a2', reading([observed('client-lost', [0.02, 0.03])], 20), { available: NO_RATE, unavailable: { perSecond: 3, windowMs: 4000 } });
  const fresh = reply('a3', reading([], 5), { available: NO_RATE, unavailable: NO_RATE });
  const old = reply('a4', reading([observed('client-lost', [1], [0.5, 1, 2])], 100), { available: NO_RATE, unavailable: { perSecond: 7, windowMs: 10_000 } });
  const sum = sumReplies(own, [b, fresh, old, b], ['a2', 'a5', 'a3'], 42);
  const lost = sum.detectionLatency.find((d) => d.cause === 'client-lost');
  assert.equal(lost?.histogram?.count, 3, 'a4 has other bounds and is left out; a2 answered twice and counts once');
  assert.deepEqual(sum.fanOut.find((f) => f.kind === 'unavailable'), { kind: 'unavailable', total: 135, perSecond: 12 });
  assert.deepEqual(sum.unanswered, ['a5']);
  assert.deepEqual(sum.authorities.map((a) => [a.authorityId, a.detections, a.unavailablePerSecond, a.rateWindowMs, a.incompatible]), [
    ['a1', 1, 2, 10_000, false],
    ['a2', 2, 3, 4000, false],
    ['a3', 0, 0, 0, false],
    ['a4', 1, 7, 10_000, true],
  ]);
  assert.equal(sum.readAtUnixMs, 42);
});

test('nothing detected yet: no causes, zero totals, still every replica listed', () => {
  const sum = sumReplies(reply('a1', { histograms: new Map(), counters: new Map() }), [], [], 1);
  assert.deepEqual(sum.detectionLatency, []);
  assert.deepEqual(sum.fanOut.map((f) => f.total), [0, 0]);
  assert.deepEqual(sum.authorities.map((a) => a.authorityId), ['a1']);
});
