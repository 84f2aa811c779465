/**
 * What every scenario reports: one JSON document (printed, and appended as
 * one line to bench/results/<scenario>.jsonl) and a one-line summary.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface Machine {
  readonly cpus: number;
  readonly model: string;
  readonly totalMemGiB: number;
  readonly node: string;
}

export interface BenchReport<P extends Readonly<Record<string, JsonValue>>, M extends Readonly<Record<string, JsonValue>>> {
  readonly scenario: string;
  /** Wall-clock start, ISO 8601: for people and for lining results up; durations use performance.now(). */
  readonly startedAt: string;
  readonly machine: Machine;
  readonly params: P;
  readonly metrics: M;
  /** The one-line human summary. */
  readonly summary: string;
}

/** Any scenario's report, for code that only prints or stores it. */
export type AnyBenchReport = BenchReport<Readonly<Record<string, JsonValue>>, Readonly<Record<string, JsonValue>>>;

/** Distribution of a sample set in ms. Percentiles are nearest-rank on the sorted samples (no interpolation). */
export type LatencySummary = {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
};

/** Nearest-rank percentile (the smallest sample with at least p% of samples at or below it); `sorted` ascending, non-empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample set');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Rounded to microseconds: more digits than performance.now() can honestly give only add noise to the files. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** undefined for no samples: a scenario reports that as missing, never as zeros. */
export function summarize(samples: readonly number[]): LatencySummary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: roundMs(sorted[0] as number),
    p50: roundMs(percentile(sorted, 50)),
    p90: roundMs(percentile(sorted, 90)),
    p99: roundMs(percentile(sorted, 99)),
    max: roundMs(sorted[sorted.length - 1] as number),
    mean: roundMs(sum / sorted.length),
  };
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

/** "p50 1.23 ms, p90 …": the distribution in one phrase. */
export function describeLatency(s: LatencySummary | undefined): string {
  if (s === undefined) return 'no samples';
  const f = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  return `p50 ${f(s.p50)} ms, p90 ${f(s.p90)} ms, p99 ${f(s.p99)} ms, max ${f(s.max)} ms, mean ${f(s.mean)} ms`;
}

/** Indented JSON, except that arrays of numbers (raw samples) stay on one line. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`);
}

/** bench/results, next to bench/dist where this module runs from. */
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Prints the report as indented JSON, then the one-line summary. */
export function printReport(report: AnyBenchReport, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${pretty(report)}\n`);
  out.write(`${report.summary}\n`);
}

/** Appends the report as one JSON line to `<resultsDir>/<scenario>.jsonl`; returns that file's path. */
export async function appendResult(
  report: AnyBenchReport,
  resultsDir: string = RESULTS_DIR,
): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `${report.scenario}.jsonl`);
  await appendFile(file, `${JSON.stringify(report)}\n`);
  return file;
}
