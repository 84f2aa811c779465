/**
 * crash-detect: how long after a client's socket dies does a contact on
 * another connection node receive `<presence type='unavailable'/>` from the
 * dead resource (RFC 6121 §4.5.2)? This is the fast path of DESIGN.md
 * "Client crash": node sees the close → shard owner → fan-out → peer's node.
 *
 * Each trial uses its own pair of mutual contacts, user<i> on node 1 and
 * peer<i> on node 2, so trials never see each other's presence. Trials run
 * a few at a time (bounded concurrency) rather than all at once: the figure
 * is a latency, not a throughput, and must not be dominated by queueing
 * behind other trials.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Cluster, DeadlineError } from '@vigil/testkit';
import type { RawXmppClient, SaslMechanism } from '../load/raw-client.js';
import { scramKeyCacheStats } from '../load/scram-client.js';
import { runPool } from '../pool.js';
import { benchClient, loginIdle, primeClientKeys, provisionPairs } from './population.js';
import { describeLatency, machine, roundMs, summarize, type BenchReport, type LatencySummary } from '../report.js';

export const SCENARIO = 'crash-detect';

export type CrashDetectOptions = {
  /** Measured trials. */
  readonly trials: number;
  /** Trials run first and not counted (JIT, connection pools, caches). */
  readonly warmup: number;
  /** Trials in flight at once. */
  readonly concurrency: number;
  /** Idle logged-in sessions (no contacts) kept online on both nodes during the trials: the `--size` knob. */
  readonly background: number;
  /** How the client's socket dies: 'fin' (a killed process) or 'rst' (a reset). */
  readonly abort: 'fin' | 'rst';
  readonly mechanism: SaslMechanism;
  /** A trial whose unavailable has not arrived by then counts as missing. Above lease + heartbeat, so the slow path still counts. */
  readonly unavailableDeadlineMs: number;
  /** No trial starts after this much time in the trial phase. */
  readonly budgetMs: number;
  readonly heartbeatIntervalMs: number;
  readonly nodeLeaseMs: number;
  /** Print the services' logs. */
  readonly echo: boolean;
  readonly signal?: AbortSignal;
};

export const CRASH_DETECT_DEFAULTS: CrashDetectOptions = {
  trials: 200,
  warmup: 10,
  concurrency: 4,
  background: 0,
  abort: 'fin',
  mechanism: 'SCRAM-SHA-256',
  unavailableDeadlineMs: 10_000,
  budgetMs: 300_000,
  heartbeatIntervalMs: 1000,
  nodeLeaseMs: 3000,
  echo: false,
};

export type CrashDetectParams = {
  readonly nodes: number;
  readonly trials: number;
  readonly warmup: number;
  readonly concurrency: number;
  readonly concurrencyNote: string;
  readonly backgroundSessions: number;
  readonly abort: string;
  readonly mechanism: string;
  readonly scramIterations: number;
  readonly heartbeatIntervalMs: number;
  readonly nodeLeaseMs: number;
  readonly unavailableDeadlineMs: number;
  readonly measured: string;
};

export type CrashDetectMetrics = {
  readonly samples: number;
  readonly missing: number;
  readonly failed: number;
  /** Trials not started: the time budget ran out, or Ctrl-C (then `interrupted`). */
  readonly notRun: number;
  readonly interrupted: boolean;
  readonly latencyMs: LatencySummary | null;
  readonly samplesMs: readonly number[];
  readonly loginMs: LatencySummary | null;
  readonly firstErrors: readonly string[];
  /** How late the load generator's own event loop ran timers during trials: how late a socket read could be stamped. */
  readonly clientEventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** PBKDF2 runs by the load generator while trials ran: 0 when the key cache was primed in setup. */
  readonly clientScramDerivationsDuringTrials: number;
  readonly clientScramCacheHitsDuringTrials: number;
  readonly setupMs: number;
  readonly trialPhaseMs: number;
};

export type CrashDetectReport = BenchReport<CrashDetectParams, CrashDetectMetrics>;

type Outcome = { readonly kind: 'sample'; readonly ms: number } | { readonly kind: 'missing' } | { readonly kind: 'failed'; readonly error: string };

const NODES = 2;
const WAIT_MS = 10_000;
/** monitorEventLoopDelay records whole timer intervals; the resolution is subtracted to leave the delay. */
const LOOP_RESOLUTION_MS = 5;
const MAX_ERRORS_KEPT = 5;

export async function runCrashDetect(overrides: Partial<CrashDetectOptions> = {}): Promise<CrashDetectReport> {
  const o: CrashDetectOptions = { ...CRASH_DETECT_DEFAULTS, ...overrides };
  for (const [name, value, min] of [['trials', o.trials, 1], ['warmup', o.warmup, 0], ['concurrency', o.concurrency, 1], ['background', o.background, 0]] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
  const startedAt = new Date().toISOString();
  const setupStart = performance.now();
  const total = o.warmup + o.trials;
  const cluster = await Cluster.start({
    nodes: NODES,
    echo: o.echo,
    env: {
      VIGIL_HEARTBEAT_INTERVAL_MS: String(o.heartbeatIntervalMs),
      VIGIL_NODE_LEASE_MS: String(o.nodeLeaseMs),
      VIGIL_LOG_LEVEL: 'info',
      // No TLS in this build: PLAIN is offered only when allowed on plaintext streams.
      ...(o.mechanism === 'PLAIN' ? { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true' } : {}),
    },
  });
  const background: RawXmppClient[] = [];
  try {
    await provisionPairs(cluster, { a: 'user', b: 'peer', lone: 'bg' }, total, o.background, o.signal);
    const names = Array.from({ length: total }, (_, i) => [`user${i}`, `peer${i}`]).flat();
    await primeClientKeys(cluster, [...names, ...Array.from({ length: o.background }, (_, j) => `bg${j}`)], o.mechanism, o.signal);
    await loginIdle(cluster, 'bg', o.background, o.mechanism, background, o.signal);
    const setupMs = performance.now() - setupStart;
    const cacheBefore = scramKeyCacheStats();

    const outcomes: Outcome[] = [];
    const loginMs: number[] = [];
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loopDelay.enable();
    const trialStart = performance.now();
    const pool = await runPool(total, { concurrency: o.concurrency, deadline: trialStart + o.budgetMs, ...(o.signal ? { signal: o.signal } : {}) }, async (i) => {
      const outcome = await trial(cluster, i, o, loginMs);
      if (i >= o.warmup) outcomes.push(outcome);
    });
    const trialPhaseMs = performance.now() - trialStart;
    loopDelay.disable();
    if (pool.errors.length > 0) throw pool.errors[0];
    const cacheAfter = scramKeyCacheStats();
    const delay = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

    return report(o, startedAt, cluster.scramIterations, outcomes, {
      loginMs,
      setupMs,
      trialPhaseMs,
      notRun: o.trials - outcomes.length,
      loopDelay: { p50: delay(loopDelay.percentile(50)), p99: delay(loopDelay.percentile(99)), max: delay(loopDelay.max) },
      scram: { derivations: cacheAfter.derivations - cacheBefore.derivations, hits: cacheAfter.hits - cacheBefore.hits },
    });
  } finally {
    for (const c of background) c.destroy();
    await cluster.stop();
  }
}

/** One measurement: both online and seeing each other, then user's socket dies; time until peer hears of it. */
async function trial(cluster: Cluster, i: number, o: CrashDetectOptions, loginMs: number[]): Promise<Outcome> {
  const user = benchClient(cluster, 0, `user${i}`, o.mechanism);
  const peer = benchClient(cluster, 1, `peer${i}`, o.mechanism);
  try {
    await Promise.all([user.login(), peer.login()]);
    if (i >= o.warmup) loginMs.push(user.loggedInAt - user.loginStartedAt, peer.loggedInAt - peer.loginStartedAt);
    await peer.waitForPresence(user.jid, 'available', WAIT_MS);
    const mark = peer.presences.mark();
    const t0 = performance.now();
    user.destroy(o.abort);
    let outcome: Outcome;
    try {
      const gone = await peer.waitForPresence(user.jid, 'unavailable', o.unavailableDeadlineMs, mark);
      outcome = { kind: 'sample', ms: gone.at - t0 };
    } catch (e) {
      if (!(e instanceof DeadlineError)) throw e;
      outcome = { kind: 'missing' };
    }
    // Anything the peer received that it should not have (a stanza error, a stream error, input it could not read) fails the trial.
    if (peer.problemCount > 0) return { kind: 'failed', error: `trial ${i}: ${peer.problemCount} protocol problem(s) at ${peer.jid}: ${peer.problems.join('; ')}` };
    return outcome;
  } catch (e) {
    // LoginError names its stage; DeadlineError what it waited for.
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { kind: 'failed', error: `trial ${i}: ${what}` };
  } finally {
    user.destroy();
    await peer.close();
  }
}

function report(
  o: CrashDetectOptions,
  startedAt: string,
  scramIterations: number,
  outcomes: readonly Outcome[],
  extra: {
    loginMs: number[];
    setupMs: number;
    trialPhaseMs: number;
    notRun: number;
    loopDelay: { p50: number; p99: number; max: number };
    scram: { derivations: number; hits: number };
  },
): CrashDetectReport {
  const samples = outcomes.flatMap((x) => (x.kind === 'sample' ? [x.ms] : []));
  const missing = outcomes.filter((x) => x.kind === 'missing').length;
  const errors = outcomes.flatMap((x) => (x.kind === 'failed' ? [x.error] : []));
  const latency = summarize(samples);
  const summary =
    `${SCENARIO}: socket death → unavailable at a contact on the other node: ${describeLatency(latency)} ` +
    `(${samples.length} samples, ${missing} missing, ${errors.length} failed, ${extra.notRun} not run; ` +
    `${o.concurrency} trials at a time, ${o.background} background sessions, ${NODES} nodes)`;
  return {
    scenario: SCENARIO,
    startedAt,
    machine: machine(),
    params: {
      nodes: NODES,
      trials: o.trials,
      warmup: o.warmup,
      concurrency: o.concurrency,
      concurrencyNote:
        `trials overlap ${o.concurrency} at a time (each its own user/peer pair); a trial's login, presence ` +
        'and close traffic shares the 2 cores with the measurement of others',
      backgroundSessions: o.background,
      abort: o.abort,
      mechanism: o.mechanism,
      scramIterations,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      nodeLeaseMs: o.nodeLeaseMs,
      unavailableDeadlineMs: o.unavailableDeadlineMs,
      measured:
        'performance.now() just before the client socket is destroyed, to performance.now() of the socket read on the ' +
        "peer's connection that carried <presence type='unavailable'/> from the dead full JID; both clients in one process",
    },
    metrics: {
      samples: samples.length,
      missing,
      failed: errors.length,
      notRun: extra.notRun,
      interrupted: o.signal?.aborted === true,
      latencyMs: latency ?? null,
      samplesMs: samples.map(roundMs),
      loginMs: summarize(extra.loginMs) ?? null,
      firstErrors: errors.slice(0, MAX_ERRORS_KEPT),
      clientEventLoopDelayMs: { p50: roundMs(extra.loopDelay.p50), p99: roundMs(extra.loopDelay.p99), max: roundMs(extra.loopDelay.max) },
      clientScramDerivationsDuringTrials: extra.scram.derivations,
      clientScramCacheHitsDuringTrials: extra.scram.hits,
      setupMs: Math.round(extra.setupMs),
      trialPhaseMs: Math.round(extra.trialPhaseMs),
    },
    summary,
  };
}
