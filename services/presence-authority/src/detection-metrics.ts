import type { api, cluster } from '@vigil/proto';
import { addHistograms, counterTotal, histogramsOf, sameBounds, type HistogramReading, type MetricsReading, type Rate } from '@vigil/telemetry';
import { DETECTION_LATENCY, FANOUT_STANZAS } from './metrics.js';

/**
 * GetDetectionMetrics as pure functions: one replica's readings (from its
 * own SDK aggregation, the numbers its /metrics shows) into the reply it
 * sends the asker, and the asker's sum over every reply. No NATS, no clock.
 */

/** Fan-out kinds reported, whether or not any stanza of that kind went out yet. */
export const FANOUT_KINDS = ['available', 'unavailable'] as const;
export type FanOutKind = (typeof FANOUT_KINDS)[number];

const toWire = (h: HistogramReading): cluster.HistogramReading => ({ boundaries: [...h.boundaries], counts: [...h.counts], sum: h.sum, count: h.count });
const fromWire = (h: cluster.HistogramReading): HistogramReading => ({ labels: {}, boundaries: h.boundaries, counts: h.counts, sum: h.sum, count: h.count });

/** This replica's reply: its detection histogram per cause, its fan-out totals with their recent rates. */
export function replicaReply(
  authorityId: string,
  reading: MetricsReading,
  rates: Readonly<Record<FanOutKind, Rate>>,
  startedAtUnixMs: number,
): cluster.AuthorityMetricsReply {
  return {
    authorityId,
    detectionLatency: histogramsOf(reading, DETECTION_LATENCY)
      .map((h) => ({ cause: h.labels.cause ?? 'unspecified', histogram: toWire(h) }))
      .sort((a, b) => a.cause.localeCompare(b.cause)),
    fanOut: FANOUT_KINDS.map((kind) => ({
      kind,
      total: counterTotal(reading, FANOUT_STANZAS, { kind }),
      perSecond: rates[kind].perSecond,
      windowMs: Math.round(rates[kind].windowMs),
    })),
    startedAtUnixMs,
  };
}

/** The fan-out totals of one reading, per kind, for the rates. */
export function fanOutTotals(reading: MetricsReading): Record<FanOutKind, number> {
  return { available: counterTotal(reading, FANOUT_STANZAS, { kind: 'available' }), unavailable: counterTotal(reading, FANOUT_STANZAS, { kind: 'unavailable' }) };
}

const byId = <T extends { readonly authorityId: string }>(a: T, b: T): number => a.authorityId.localeCompare(b.authorityId);

/**
 * The sum of the serving replica's own reply and the others'. A histogram is
 * added only when its bucket bounds equal the serving replica's for that
 * cause (or, for a cause it has not seen, the first one seen); a replica
 * with other bounds (another version) is marked incompatible and its
 * detections left out rather than mis-bucketed. A replica that answered
 * twice counts once.
 */
export function sumReplies(
  own: cluster.AuthorityMetricsReply,
  others: readonly cluster.AuthorityMetricsReply[],
  unanswered: readonly string[],
  readAtUnixMs: number,
): api.cluster.GetDetectionMetricsResponse {
  const replies = [own, ...others.filter((r, i) => r.authorityId !== own.authorityId && others.findIndex((o) => o.authorityId === r.authorityId) === i)];
  const histograms = new Map<string, HistogramReading>();
  const incompatible = new Set<string>();
  // First pass: which replicas' bounds fit. Second: add only theirs, so a misfit leaves no partial sum behind.
  for (const r of replies) {
    for (const d of r.detectionLatency) {
      const h = d.histogram;
      if (h === undefined) continue;
      const first = histograms.get(d.cause);
      if (first === undefined) histograms.set(d.cause, { ...fromWire(h), counts: h.counts.map(() => 0), sum: 0, count: 0 });
      else if (!sameBounds(first.boundaries, h.boundaries) || first.counts.length !== h.counts.length) incompatible.add(r.authorityId);
    }
  }
  for (const r of replies) {
    if (incompatible.has(r.authorityId)) continue;
    for (const d of r.detectionLatency) {
      const h = d.histogram;
      const sum = histograms.get(d.cause);
      if (h !== undefined && sum !== undefined) histograms.set(d.cause, addHistograms(sum, fromWire(h)));
    }
  }
  const fanOut = FANOUT_KINDS.map((kind): api.cluster.FanOutCounter => {
    const counters = replies.flatMap((r) => r.fanOut.filter((f) => f.kind === kind));
    return { kind, total: counters.reduce((s, f) => s + f.total, 0), perSecond: counters.reduce((s, f) => s + (f.windowMs > 0 ? f.perSecond : 0), 0) };
  });
  const authorities = replies.map((r): api.cluster.AuthorityMetrics => {
    const unavailable = r.fanOut.find((f) => f.kind === 'unavailable');
    return {
      authorityId: r.authorityId,
      detections: r.detectionLatency.reduce((s, d) => s + (d.histogram?.count ?? 0), 0),
      unavailableStanzas: unavailable?.total ?? 0,
      unavailablePerSecond: unavailable !== undefined && unavailable.windowMs > 0 ? unavailable.perSecond : 0,
      rateWindowMs: unavailable?.windowMs ?? 0,
      startedAtUnixMs: r.startedAtUnixMs,
      incompatible: incompatible.has(r.authorityId),
    };
  });
  const answered = new Set(replies.map((r) => r.authorityId));
  return {
    detectionLatency: [...histograms.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([cause, h]) => ({ cause, histogram: { boundsSeconds: [...h.boundaries], counts: [...h.counts], sumSeconds: h.sum, count: h.count } })),
    fanOut,
    authorities: authorities.sort(byId),
    unanswered: [...new Set(unanswered)].filter((id) => !answered.has(id)).sort(),
    readAtUnixMs,
  };
}
