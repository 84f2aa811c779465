// The latency panel's arithmetic as pure functions: bundled into the front end
// (web/tsconfig.json includes this file) and unit-tested here on Node.
import type { HistogramView, LatencyView } from './view.js';

/** The detection-latency histogram of one cause, or of every cause added up (`all`). */
export function histogramOf(v: LatencyView, cause: string): HistogramView | undefined {
  const picked = cause === 'all' ? v.causes : v.causes.filter((c) => c.cause === cause);
  let sum: HistogramView | undefined;
  for (const { histogram: h } of picked) {
    if (sum === undefined) sum = h;
    // All causes share the authority's bucket bounds; one that did not would be another instrument.
    else if (sum.boundsSeconds.length === h.boundsSeconds.length && sum.boundsSeconds.every((b, i) => b === h.boundsSeconds[i])) {
      sum = { boundsSeconds: sum.boundsSeconds, counts: sum.counts.map((c, i) => c + (h.counts[i] ?? 0)), sumSeconds: sum.sumSeconds + h.sumSeconds, count: sum.count + h.count };
    }
  }
  return sum;
}

/** A duration for people: 250 µs, 2.5 ms, 1 s, 7.5 s, 2 min. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '∞';
  if (seconds < 0.001) return `${round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${round(seconds * 1000)} ms`;
  if (seconds < 120) return `${round(seconds)} s`;
  return `${round(seconds / 60)} min`;
}

/** Three significant digits at most, no trailing zeros. */
function round(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/** What bucket i holds, in words: "≤ 1 ms", "1 ms – 2.5 ms", "> 60 s". */
export function bucketLabel(bounds: readonly number[], i: number): string {
  const upper = bounds[i];
  const lower = bounds[i - 1];
  if (upper === undefined) return `> ${duration(bounds[bounds.length - 1] ?? 0)}`;
  if (lower === undefined) return `≤ ${duration(upper)}`;
  return `${duration(lower)} – ${duration(upper)}`;
}

/** The short label under bar i, or '' for bars left unlabelled (only powers of ten and the overflow bucket are, so labels never touch). */
export function tickLabel(bounds: readonly number[], i: number): string {
  const upper = bounds[i];
  if (upper === undefined) return `>${duration(bounds[bounds.length - 1] ?? 0).replace(' ', '')}`;
  const decade = Math.abs(Math.log10(upper) - Math.round(Math.log10(upper))) < 1e-9;
  return decade ? duration(upper).replace(' ', '') : '';
}

/**
 * The bucket holding the q-quantile (0 < q ≤ 1) of a histogram: what can be
 * said from buckets alone is "at most this bound" (or "above the last
 * bound"). Undefined when the histogram is empty.
 */
export function quantileBucket(h: HistogramView, q: number): number | undefined {
  if (h.count <= 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i] ?? 0;
    if (seen >= rank) return i;
  }
  return h.counts.length - 1;
}

/** "≤ 2.5 ms" or "> 60 s" for the q-quantile; '—' when nothing was measured. */
export function quantileText(h: HistogramView, q: number): string {
  const i = quantileBucket(h, q);
  if (i === undefined) return '—';
  const upper = h.boundsSeconds[i];
  return upper === undefined ? `> ${duration(h.boundsSeconds[h.boundsSeconds.length - 1] ?? 0)}` : `≤ ${duration(upper)}`;
}

/** A rate for people: "12.5/s", "0.2/s", "0/s". */
export function perSecond(x: number): string {
  return `${round(x < 10 ? x : Math.round(x))}/s`;
}
