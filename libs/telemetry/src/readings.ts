/**
 * What a process's own instruments hold right now, as plain data: read back
 * from the same SDK aggregation the exporters read (one source of truth), so
 * an API can show the numbers /metrics shows. Cumulative since the process
 * started. Pure: no SDK types here (the reader is in ./sdk.ts).
 */
export type Labels = Readonly<Record<string, string>>;

/**
 * One histogram series (one set of attributes) as OpenTelemetry aggregates
 * it: explicit bucket bounds (inclusive upper bounds, ascending) and a count
 * per bucket, not cumulative; `counts` has one more entry than `boundaries`
 * for the values above the last bound.
 */
export interface HistogramReading {
  readonly labels: Labels;
  readonly boundaries: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** One counter series: its total since the process started. */
export interface CounterReading {
  readonly labels: Labels;
  readonly value: number;
}

/** Every histogram and counter of the process's `vigil` meter, by instrument name (without Prometheus's `_total`). */
export interface MetricsReading {
  readonly histograms: ReadonlyMap<string, readonly HistogramReading[]>;
  readonly counters: ReadonlyMap<string, readonly CounterReading[]>;
}

export const EMPTY_READING: MetricsReading = { histograms: new Map(), counters: new Map() };

/** Two histograms that cannot be added: their bucket bounds differ (another version's instrument). */
export class BucketMismatchError extends Error {
  constructor(
    readonly expected: readonly number[],
    readonly actual: readonly number[],
  ) {
    super(`histogram bucket bounds differ: [${expected.join(', ')}] and [${actual.join(', ')}]`);
    this.name = 'BucketMismatchError';
  }
}

export const sameBounds = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The histogram of observations in `a` and in `b` (bucket by bucket); throws BucketMismatchError when their bounds differ. */
export function addHistograms(a: HistogramReading, b: HistogramReading, labels: Labels = a.labels): HistogramReading {
  if (!sameBounds(a.boundaries, b.boundaries) || a.counts.length !== b.counts.length) throw new BucketMismatchError(a.boundaries, b.boundaries);
  return { labels, boundaries: a.boundaries, counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), sum: a.sum + b.sum, count: a.count + b.count };
}

/** An empty histogram with these bounds. */
export function emptyHistogram(boundaries: readonly number[], labels: Labels = {}): HistogramReading {
  return { labels, boundaries, counts: new Array<number>(boundaries.length + 1).fill(0), sum: 0, count: 0 };
}

/** The series of `name` whose labels include `match`. */
export function histogramsOf(r: MetricsReading, name: string, match: Labels = {}): HistogramReading[] {
  return (r.histograms.get(name) ?? []).filter((h) => Object.entries(match).every(([k, v]) => h.labels[k] === v));
}

/** Sum of the counter series of `name` whose labels include `match`; 0 when none. */
export function counterTotal(r: MetricsReading, name: string, match: Labels = {}): number {
  return (r.counters.get(name) ?? []).filter((c) => Object.entries(match).every(([k, v]) => c.labels[k] === v)).reduce((s, c) => s + c.value, 0);
}

export interface Rate {
  readonly perSecond: number;
  /** The interval the rate is over; 0 when there was no earlier sample to compare with (perSecond is then 0). */
  readonly windowMs: number;
}

export interface CounterRateOptions {
  /** The rate spans at least this much when samples that old exist. */
  readonly windowMs?: number;
  /** Samples older than this are forgotten: a rate never spans more. */
  readonly maxAgeMs?: number;
  /** Samples closer together than this are not kept (the rate still uses the newest value). */
  readonly minSpacingMs?: number;
}

/**
 * The recent per-second rate of one cumulative counter, from samples taken
 * whenever someone asks (no timer: nothing runs while nobody looks). The
 * rate is over [the newest sample at least `windowMs` old, now], or over all
 * kept samples when none is that old; the first question after a quiet
 * minute has no earlier sample and answers a window of 0. At most
 * maxAgeMs / minSpacingMs + 1 samples are kept (62 with the defaults).
 * A total lower than before (a counter that restarted) forgets the samples.
 */
export class CounterRate {
  readonly #windowMs: number;
  readonly #maxAgeMs: number;
  readonly #minSpacingMs: number;
  /** Oldest first; times ascending. */
  #samples: { readonly atMs: number; readonly total: number }[] = [];

  constructor(o: CounterRateOptions = {}) {
    this.#windowMs = o.windowMs ?? 10_000;
    this.#maxAgeMs = o.maxAgeMs ?? 60_000;
    this.#minSpacingMs = o.minSpacingMs ?? 1000;
    if (!(this.#windowMs > 0 && this.#maxAgeMs >= this.#windowMs && this.#minSpacingMs > 0)) {
      throw new RangeError(`CounterRate needs 0 < windowMs <= maxAgeMs and minSpacingMs > 0 (got ${this.#windowMs}, ${this.#maxAgeMs}, ${this.#minSpacingMs})`);
    }
  }

  /** Records `total` at `nowMs` (monotonic) and answers the rate up to it. */
  sample(nowMs: number, total: number): Rate {
    const newest = this.#samples.at(-1);
    if (newest !== undefined && (total < newest.total || nowMs < newest.atMs)) this.#samples = [];
    this.#samples = this.#samples.filter((s) => nowMs - s.atMs <= this.#maxAgeMs);
    // The base: the newest sample old enough to span the window, else the oldest kept.
    let base = this.#samples[0];
    for (const s of this.#samples) if (nowMs - s.atMs >= this.#windowMs) base = s;
    const rate: Rate = base === undefined || nowMs <= base.atMs ? { perSecond: 0, windowMs: 0 } : { perSecond: ((total - base.total) * 1000) / (nowMs - base.atMs), windowMs: nowMs - base.atMs };
    // Samples before the base can never be a base again (a later base is always newer).
    if (base !== undefined) this.#samples = this.#samples.slice(this.#samples.indexOf(base));
    const last = this.#samples.at(-1);
    if (last === undefined || nowMs - last.atMs >= this.#minSpacingMs) this.#samples.push({ atMs: nowMs, total });
    return rate;
  }

  /** Samples kept now (for tests of the bound). */
  get size(): number {
    return this.#samples.length;
  }
}
