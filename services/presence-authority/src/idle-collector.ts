/**
 * One full garbage collection after a burst of session starts and ends, once
 * the authority has gone quiet (docs/decisions.md, "An idle collector instead
 * of the authority's heap flag").
 *
 * Why: with V8's default heap growth the authority keeps the old space a
 * login storm grew (about 4 KB per session of slack against ≤ 1 KB wanted),
 * and V8's memory reducer rarely gives it back because lock renewals keep the
 * process from looking idle. `--heap-growing-percent=20` bounded that slack
 * but made the authority collect fully every 1.5–2.5 s under gRPC load, and
 * those pauses were the slowest 1 % of GetPresence. A collection after each
 * burst gives the slack back at a moment when nothing waits for the process,
 * and lets the heap grow as V8 likes while it serves reads.
 *
 * The decision is a pure function over per-tick readings (session count,
 * committed heap, event-loop utilization); the shell below reads them on a
 * timer and calls `gc` (exposed by the authority's `--expose-gc` flag).
 */
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@vigil/telemetry';

export type IdleCollectorSettings = {
  /** Consecutive ticks without a change in the session count before the burst counts as over. */
  readonly quietTicks: number;
  /** A tick whose event loop was busier than this (0–1) is not quiet (the process is serving something). */
  readonly maxUtilization: number;
  /** Collect only when the committed heap grew by at least this much since the last collection (something to give back). */
  readonly minGrowthBytes: number;
  /**
   * A change in the session count of at most max(churnSessions, churnFraction × sessions) in one tick still counts
   * as quiet: a large authority always sees a few logins and logouts, and a burst is what the collector waits out.
   */
  readonly churnSessions: number;
  readonly churnFraction: number;
  /**
   * No forced collection above this committed heap: the compacting collection is one atomic pause (50–58 ms
   * measured with 65 MB committed, 35 MB live), so 128 MB bounds it near 100 ms (an estimate, not measured);
   * longer, it would delay lease ticks and gRPC calls more than the memory it gives back is worth. V8's own
   * incremental collections handle larger heaps.
   */
  readonly maxHeapBytes: number;
};

/**
 * maxUtilization 0.15: an authority with 10,000 idle sessions and its lock renewals stays well below it, one answering
 * 2,000 GetPresence/s is at about 0.3 (0.14 ms of CPU a call). A collection that compacts the whole old space pauses
 * the process 50–80 ms, so it waits until nothing is being served; the heap's growth meanwhile is bounded by V8's own
 * collections (the authority's --heap-growing-percent).
 */
export const IDLE_COLLECTOR_DEFAULTS: IdleCollectorSettings = {
  quietTicks: 3, maxUtilization: 0.15, minGrowthBytes: 4 * 1024 * 1024, churnSessions: 16, churnFraction: 0.001, maxHeapBytes: 128 * 1024 * 1024,
};
/** Tick of the shell; with quietTicks 3 a burst is over 1.5–2 s after its last session change. */
export const IDLE_COLLECTOR_TICK_MS = 500;

export type IdleCollectorState = {
  /** Session count at the last tick. */
  readonly sessions: number;
  /** Sessions started or ended since the last collection (a burst to clean up after). */
  readonly changed: boolean;
  /** Quiet ticks in a row (no more than churn in the session count, loop not busy). */
  readonly quiet: number;
  /** Committed heap the last collection left (or the first reading). */
  readonly heapAfterGc: number;
};

export type IdleReading = { readonly sessions: number; readonly heapBytes: number; readonly utilization: number };

export function initialIdleState(r: IdleReading): IdleCollectorState {
  return { sessions: r.sessions, changed: false, quiet: 0, heapAfterGc: r.heapBytes };
}

/**
 * One tick: the next state, and whether to collect now. After a collection
 * the caller reports what it left with `collected`. A process that serves
 * reads without session changes never collects here (V8's own heuristics
 * apply); one that serves reads at under maxUtilization after a burst is
 * paused once, for at most about 100 ms (maxHeapBytes).
 */
export function idleTick(s: IdleCollectorState, r: IdleReading, o: IdleCollectorSettings): { state: IdleCollectorState; collect: boolean } {
  const delta = Math.abs(r.sessions - s.sessions);
  const changed = s.changed || delta > 0;
  const burst = delta > Math.max(o.churnSessions, o.churnFraction * r.sessions);
  const quiet = burst || r.utilization > o.maxUtilization ? 0 : s.quiet + 1;
  const collect = changed && quiet >= o.quietTicks && r.heapBytes - s.heapAfterGc >= o.minGrowthBytes && r.heapBytes <= o.maxHeapBytes;
  // A burst whose heap growth was too small to be worth a pause (or whose heap is too large to pause for) is
  // forgotten once quiet.
  const settled = changed && quiet >= o.quietTicks && !collect;
  return { state: { sessions: r.sessions, changed: settled ? false : changed, quiet, heapAfterGc: s.heapAfterGc }, collect };
}

export function collected(s: IdleCollectorState, heapBytes: number): IdleCollectorState {
  return { ...s, changed: false, quiet: 0, heapAfterGc: heapBytes };
}

/** Starts the collector; returns its stop. Off (with one log line) when `gc` is not exposed. */
export function startIdleCollector(sessions: () => number, log: Logger, o: IdleCollectorSettings = IDLE_COLLECTOR_DEFAULTS): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') {
    log.info('idle collector off: node runs without --expose-gc', { nodeFlags: process.execArgv });
    return () => undefined;
  }
  const heap = () => v8.getHeapStatistics().total_heap_size;
  let elu = performance.eventLoopUtilization();
  let state = initialIdleState({ sessions: sessions(), heapBytes: heap(), utilization: 0 });
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const reading = { sessions: sessions(), heapBytes: heap(), utilization: performance.eventLoopUtilization(now, elu).utilization };
    elu = now;
    const next = idleTick(state, reading, o);
    if (state.changed && !next.state.changed && !next.collect && reading.heapBytes > o.maxHeapBytes) {
      log.info('idle collection skipped: heap above the pause cap', { heapBytes: reading.heapBytes, maxHeapBytes: o.maxHeapBytes, sessions: reading.sessions });
    }
    state = next.state;
    if (!next.collect) return;
    const t0 = performance.now();
    // A plain full collection frees what died but evacuates only nearly empty pages, and a storm leaves the old space
    // half empty page by page (65 MB committed for 35 MB live in one run): compact every page this once.
    v8.setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
    }
    const after = heap();
    state = collected(state, after);
    elu = performance.eventLoopUtilization(); // the collection itself is not load
    log.info('idle collection', {
      sessions: reading.sessions, utilization: Math.round(reading.utilization * 1000) / 1000, heapBeforeBytes: reading.heapBytes, heapAfterBytes: after, pauseMs: Math.round((performance.now() - t0) * 10) / 10,
      rssBytes: process.memoryUsage.rss(), spaces: spaceSizes(),
    });
  }, IDLE_COLLECTOR_TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Committed / used MB of each V8 heap space above 1 MB, for the collection's log line. */
function spaceSizes(): Record<string, string> {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const out: Record<string, string> = {};
  for (const x of v8.getHeapSpaceStatistics()) if (x.space_size > 1e6) out[x.space_name] = `${mb(x.space_size)}/${mb(x.space_used_size)}`;
  return out;
}
