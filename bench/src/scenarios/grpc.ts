/**
 * grpc: the public API's latency, with a real grpc-js client on one channel.
 *
 * 1. GetPresence at a fixed request rate (open loop: requests are issued on
 *    schedule whether or not earlier ones have answered), over users of
 *    whom some are online, from `loadProcesses` child processes with a
 *    channel each (load/grpc-load.ts). Latency from the scheduled time (so a
 *    stalled client or server cannot hide queueing) and from the actual
 *    send; the load processes' own event-loop delay and GC pauses beside it.
 * 2. BatchGetPresence with 1,000 JIDs, one call at a time.
 * 3. Crash to WatchPresence event: a client on connection node 1 dies
 *    (abrupt TCP close); time until a WatchPresence stream on the authority
 *    delivers its CLIENT_LOST change. Trials one at a time.
 */
import { performance } from 'node:perf_hooks';
import { credentials, Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { Cluster, DeadlineError, type GrpcAccess } from '@vigil/testkit';
import { GRPC_LOAD_CLIENTS, GrpcLoadProcess, type GrpcLoadClient, type LoadResult } from '../load/grpc-load.js';
import { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { describeLatency, machine, roundMs, summarize, type BenchReport, type LatencySummary } from '../report.js';
import { benchPassword, loginIdle, primeClientKeys, provisionPairs } from './population.js';
import { cpuTimeMs, loadAverage } from './process-stats.js';

export const SCENARIO = 'grpc';
const P = api.presence;

export type GrpcBenchOptions = {
  /** GetPresence requests per second, issued on schedule. */
  readonly rate: number;
  readonly durationMs: number;
  /**
   * Unmeasured load at the same rate first (default 10 s): JIT warm-up, connections, caches, and the collections the other processes on
   * the host run once the setup's logins are over (the connection nodes' memory reducer, about 10 s after their
   * start), which with 2 s of warm-up fell in the measured run (docs/decisions.md, "GetPresence is measured on a
   * settled cluster"). `--warmup-seconds 2` measures as sessions 6-8 did.
   */
  readonly warmupMs: number;
  /** Users asked about; also the JIDs of each BatchGetPresence. */
  readonly users: number;
  /** Of those, logged in (so answers carry resources). */
  readonly online: number;
  readonly batchCalls: number;
  readonly watchTrials: number;
  /** Load-generator processes sharing the GetPresence rate, a channel each. */
  readonly loadProcesses: number;
  /** The load processes' gRPC client (load/grpc-load.ts): raw (HTTP/2 framed by hand, load/h2-raw.ts), the lean node:http2 one, or grpc-js's. */
  readonly client: GrpcLoadClient;
  readonly signal?: AbortSignal;
};

export const GRPC_DEFAULTS: GrpcBenchOptions = { rate: 2000, durationMs: 10_000, warmupMs: 10_000, users: 1000, online: 100, batchCalls: 50, watchTrials: 200, loadProcesses: 1, client: 'raw' };

type Params = Omit<GrpcBenchOptions, 'signal'> & { watchVictims: number; measured: string };
type Metrics = {
  getPresence: {
    requests: number; failed: number; achievedRate: number;
    /** CPU the authority (API and shard owner in one process) and this load generator spent per request during the measured run. */
    authorityCpuMsPerRequest: number; clientCpuMsPerRequest: number;
    latencyMs: LatencySummary | null; fromScheduleMs: LatencySummary | null;
    /** How late the scheduler issued requests (load generator lag). */
    issueLagMs: LatencySummary | null;
    /** The load processes' own event-loop delay (worst p99 and max of any) and GC pauses (summed) during the measured run. */
    loadGenerator: { processes: number; loopDelayP99Ms: number; loopDelayMaxMs: number; gcPauses: number; gcTotalMs: number; gcMaxMs: number };
  };
  batchGetPresence: { calls: number; failed: number; jids: number; latencyMs: LatencySummary | null };
  crashToWatch: { trials: number; missing: number; failed: number; latencyMs: LatencySummary | null; samplesMs: readonly number[] };
  firstErrors: readonly string[];
  loadAverage: readonly number[];
};
export type GrpcBenchReport = BenchReport<Params, Metrics>;

const CALL_DEADLINE_MS = 5000;
const WATCH_WAIT_MS = 10_000;
const WATCH_VICTIMS = 10;
const MAX_ERRORS_KEPT = 5;

const describeError = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** A WatchPresence stream; `next(key)` waits for a change `<bare>/<resource>|<cause>` and returns when it arrived. */
class WatchTimes {
  readonly #arrived = new Map<string, number>();
  readonly #waiters = new Map<string, (at: number) => void>();
  error: ServiceError | undefined;

  constructor(readonly stream: ClientReadableStream<api.presence.WatchPresenceResponse>) {
    stream.on('data', (r: api.presence.WatchPresenceResponse) => {
      const at = performance.now();
      if (r.event?.$case !== 'change') return;
      const c = r.event.change;
      const key = `${c.jid}/${c.resource}|${c.cause}`;
      const waiter = this.#waiters.get(key);
      if (waiter !== undefined) {
        this.#waiters.delete(key);
        waiter(at);
      } else if (this.#arrived.size < 10_000) {
        this.#arrived.set(key, at);
      }
    });
    stream.on('error', (e: ServiceError) => {
      this.error = e;
    });
  }

  next(key: string, timeoutMs: number): Promise<number> {
    const at = this.#arrived.get(key);
    if (at !== undefined) {
      this.#arrived.delete(key);
      return Promise.resolve(at);
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        reject(new DeadlineError(`watch event ${key}`, timeoutMs));
      }, timeoutMs);
      this.#waiters.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

export async function runGrpcBench(overrides: Partial<GrpcBenchOptions> = {}): Promise<GrpcBenchReport> {
  const o: GrpcBenchOptions = { ...GRPC_DEFAULTS, ...overrides };
  for (const [name, v, min] of [['rate', o.rate, 1], ['durationMs', o.durationMs, 1], ['users', o.users, 1], ['online', o.online, 0], ['batchCalls', o.batchCalls, 0], ['watchTrials', o.watchTrials, 0], ['loadProcesses', o.loadProcesses, 1]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${v}`);
  }
  if (!GRPC_LOAD_CLIENTS.includes(o.client)) throw new RangeError(`client must be one of ${GRPC_LOAD_CLIENTS.join(', ')}, got ${JSON.stringify(o.client)}`);
  if (o.online > o.users) throw new RangeError(`online (${o.online}) must not exceed users (${o.users})`);
  const batchJids = Math.min(o.users, 1000);
  const startedAt = new Date().toISOString();
  const cluster = await Cluster.start({ nodes: 2, grpc: true, readyTimeoutMs: 60_000 });
  const grpc = cluster.grpc as GrpcAccess;
  const presence = new P.PresenceServiceClient(grpc.address(0), credentials.createInsecure());
  const clients: RawXmppClient[] = [];
  let watch: WatchTimes | undefined;
  const errors: string[] = [];
  const md = new Metadata();
  md.set('authorization', `Bearer ${grpc.readToken}`);
  try {
    await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'g' }, 0, o.users, o.signal);
    await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'gw' }, 0, WATCH_VICTIMS, o.signal);
    await primeClientKeys(cluster, [...Array.from({ length: o.online }, (_, i) => `g${i}`), ...Array.from({ length: WATCH_VICTIMS }, (_, i) => `gw${i}`)], 'SCRAM-SHA-256', o.signal);
    await loginIdle(cluster, 'g', o.online, 'SCRAM-SHA-256', clients, o.signal);

    // 1. GetPresence at a fixed rate from the load processes: warm-up, then the measured run.
    const loaders = await Promise.all(
      Array.from({ length: o.loadProcesses }, (_, index) =>
        GrpcLoadProcess.start({
          address: grpc.address(0), token: grpc.readToken, domain: cluster.domain, users: o.users,
          rate: o.rate / o.loadProcesses, index, of: o.loadProcesses, deadlineMs: CALL_DEADLINE_MS, client: o.client,
        }),
      ),
    );
    let results: LoadResult[];
    const authorityPid = cluster.authority.pid ?? 0;
    let authorityCpuMs: number;
    try {
      await Promise.all(loaders.map((l) => l.phase(o.warmupMs, false)));
      const cpuBefore = cpuTimeMs(authorityPid);
      const fromUs = process.hrtime.bigint() / 1000n;
      results = await Promise.all(loaders.map((l) => l.phase(o.durationMs, true)));
      authorityCpuMs = cpuTimeMs(authorityPid) - cpuBefore;
      // For bench/tools/cpuprofile-top.mjs --from-us --to-us on the services' --cpu-prof profiles (the same clock).
      process.stderr.write(`grpc: GetPresence measured from ${fromUs} to ${process.hrtime.bigint() / 1000n} µs (CLOCK_MONOTONIC)\n`);
    } finally {
      for (const l of loaders) l.stop();
    }
    const issued = results.reduce((n, r) => n + r.issued, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));
    for (const r of results) for (const e of r.errors) if (errors.length < MAX_ERRORS_KEPT) errors.push(e);
    const latency = results.flatMap((r) => r.latencyMs);
    const fromSchedule = results.flatMap((r) => r.fromScheduleMs);
    const lag = results.flatMap((r) => r.lagMs);
    const perRequest = (ms: number) => Math.round((ms / Math.max(1, issued)) * 1000) / 1000;
    const authorityCpuMsPerRequest = perRequest(authorityCpuMs);
    const clientCpuMsPerRequest = perRequest(results.reduce((n, r) => n + r.cpuMs, 0));
    const round2 = (x: number) => Math.round(x * 100) / 100;
    const loadGenerator = {
      processes: o.loadProcesses,
      loopDelayP99Ms: round2(Math.max(...results.map((r) => r.loopDelayP99Ms))),
      loopDelayMaxMs: round2(Math.max(...results.map((r) => r.loopDelayMaxMs))),
      gcPauses: results.reduce((n, r) => n + r.gcPauses, 0),
      gcTotalMs: round2(results.reduce((n, r) => n + r.gcTotalMs, 0)),
      gcMaxMs: round2(Math.max(...results.map((r) => r.gcMaxMs))),
    };
    const jid = (i: number) => `g${i % o.users}@${cluster.domain}`;

    // 2. BatchGetPresence with up to 1,000 JIDs, sequentially.
    const jids = Array.from({ length: batchJids }, (_, i) => jid(i));
    const batchLatency: number[] = [];
    let batchFailed = 0;
    for (let n = 0; n < o.batchCalls && o.signal?.aborted !== true; n++) {
      const t = performance.now();
      try {
        await new Promise<void>((resolve, reject) => {
          presence.batchGetPresence({ jids }, md, { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => {
            if (err) return reject(err);
            if (res.presences.length !== jids.length) return reject(new Error(`BatchGetPresence answered ${res.presences.length} of ${jids.length}`));
            resolve();
          });
        });
        batchLatency.push(performance.now() - t);
      } catch (e) {
        batchFailed += 1;
        if (errors.length < MAX_ERRORS_KEPT) errors.push(`BatchGetPresence: ${describeError(e)}`);
      }
    }

    // 3. Crash → WatchPresence CLIENT_LOST, one trial at a time.
    const victims = Array.from({ length: WATCH_VICTIMS }, (_, i) => `gw${i}@${cluster.domain}`);
    watch = new WatchTimes(presence.watchPresence({ jids: victims, causes: [] }, md));
    const crash: number[] = [];
    let missing = 0;
    let watchFailed = 0;
    await runPool(o.watchTrials, { concurrency: 1, deadline: performance.now() + 300_000, ...(o.signal ? { signal: o.signal } : {}) }, async (i) => {
      const w = watch as WatchTimes;
      const username = `gw${i % WATCH_VICTIMS}`;
      const resource = `t${i}`;
      const bare = `${username}@${cluster.domain}`;
      const victim = new RawXmppClient({ port: cluster.node(0).port, domain: cluster.domain, username, password: benchPassword(username), resource, mechanism: 'SCRAM-SHA-256', maxPresences: 4 });
      try {
        await victim.login();
        await w.next(`${bare}/${resource}|${P.ChangeCause.CHANGE_CAUSE_AVAILABLE}`, WATCH_WAIT_MS);
        const t0 = performance.now();
        victim.destroy('fin');
        try {
          crash.push((await w.next(`${bare}/${resource}|${P.ChangeCause.CHANGE_CAUSE_CLIENT_LOST}`, WATCH_WAIT_MS)) - t0);
        } catch (e) {
          if (!(e instanceof DeadlineError)) throw e;
          missing += 1;
        }
      } catch (e) {
        watchFailed += 1;
        if (errors.length < MAX_ERRORS_KEPT) errors.push(`watch trial ${i}: ${describeError(e)}`);
      } finally {
        victim.destroy();
      }
    });

    const get = summarize(latency) ?? null;
    const sched = summarize(fromSchedule) ?? null;
    const batch = summarize(batchLatency) ?? null;
    const crashLat = summarize(crash) ?? null;
    return {
      scenario: SCENARIO,
      startedAt,
      machine: machine(),
      params: {
        rate: o.rate, durationMs: o.durationMs, warmupMs: o.warmupMs, users: o.users, online: o.online, batchCalls: o.batchCalls, watchTrials: o.watchTrials, loadProcesses: o.loadProcesses, client: o.client,
        watchVictims: WATCH_VICTIMS,
        measured:
          'GetPresence from loadProcesses child processes, one HTTP/2 connection each (client raw: HTTP/2 and HPACK framed by hand on one ' +
          'socket, answers checked by grpc-status and decoded, the JID compared; client http2: a lean node:http2 client, request frames ' +
          'encoded once, answers checked by grpc-status and length, not decoded; client grpc-js: its generated client without channelz), ' +
          'read token, open loop, a timer ' +
          'every millisecond issuing what is due; latency from the actual send and from the scheduled send time to the callback; ' +
          'BatchGetPresence sequentially from the scenario process; crash: performance.now() before the XMPP socket of a client on ' +
          'node 1 is destroyed, to the arrival of its CLIENT_LOST change on a WatchPresence stream',
      },
      metrics: {
        getPresence: {
          requests: issued, failed, achievedRate: Math.round(issued / (elapsedMs / 1000)), authorityCpuMsPerRequest, clientCpuMsPerRequest,
          latencyMs: get, fromScheduleMs: sched, issueLagMs: summarize(lag) ?? null, loadGenerator,
        },
        batchGetPresence: { calls: o.batchCalls, failed: batchFailed, jids: batchJids, latencyMs: batch },
        crashToWatch: { trials: o.watchTrials, missing, failed: watchFailed, latencyMs: crashLat, samplesMs: crash.map(roundMs) },
        firstErrors: errors,
        loadAverage: loadAverage(),
      },
      summary:
        `${SCENARIO}: GetPresence at ${o.rate}/s (${o.client} client, ${issued} requests, ${failed} failed): ${describeLatency(get ?? undefined)}` +
        ` [from schedule p99 ${sched?.p99.toFixed(2) ?? '–'} ms; authority CPU ${authorityCpuMsPerRequest} ms per request;` +
        ` load generator loop delay p99 ${loadGenerator.loopDelayP99Ms} ms, max ${loadGenerator.loopDelayMaxMs} ms, ${loadGenerator.gcPauses} GC pauses, max ${loadGenerator.gcMaxMs} ms]; BatchGetPresence(${batchJids}): ${describeLatency(batch ?? undefined)}; ` +
        `crash → WatchPresence CLIENT_LOST: ${describeLatency(crashLat ?? undefined)} (${crash.length} samples, ${missing} missing, ${watchFailed} failed)`,
    };
  } finally {
    watch?.stream.cancel();
    presence.close();
    for (const c of clients) c.destroy();
    await cluster.stop();
  }
}
