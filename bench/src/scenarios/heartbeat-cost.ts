/**
 * heartbeat-cost: what a connection node publishes on NATS to stay alive,
 * at several numbers of idle sessions on it. A heartbeat is one message per
 * node per interval carrying a digest per shard that has sessions
 * (DESIGN.md "Liveness"), so its rate must not grow with the sessions and
 * its size must stop growing once every shard is represented.
 *
 * Measured with a NATS subscription to the node's heartbeat subject (and,
 * for comparison, to every subject under the prefix) over a window at each
 * level. Sessions are added between levels and stay online, idle.
 */
import { performance } from 'node:perf_hooks';
import type { Subscription } from '@nats-io/transport-node';
import { DEFAULT_SHARD_COUNT, subjects } from '@vigil/cluster';
import { EnvReader, readClusterTimings } from '@vigil/config';
import { cluster as clusterProto } from '@vigil/proto';
import { Cluster } from '@vigil/testkit';
import { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { machine, type BenchReport } from '../report.js';
import { benchPassword, primeClientKeys, provisionPairs } from './population.js';
import { loadAverage, requireOpenFiles, rss } from './process-stats.js';

export const SCENARIO = 'heartbeat-cost';

export type HeartbeatCostOptions = {
  /** Idle sessions on the measured node at each level, ascending; the first is usually 0. */
  readonly levels: readonly number[];
  /** How long each level is measured. */
  readonly windowMs: number;
  readonly signal?: AbortSignal;
};

/** Sessions per account (resources r0…): the figure is per session, and fewer accounts keep setup short. */
const SESSIONS_PER_ACCOUNT = 5;
/** Settling time after the last login of a level, so every session is in the digests before counting. */
const SETTLE_MS = 3000;
const PREFIX = 'vigil';
/** Encoded size bound of one ShardDigest entry: field tag and length (2) + shard (≤ 3) + count (≤ 5) + hash (≤ 6). */
const MAX_DIGEST_ENTRY_BYTES = 16;

type Level = {
  sessions: number;
  /** Sum of the session counts in the node's last heartbeat (should equal `sessions`). */
  sessionsInHeartbeat: number;
  heartbeats: number;
  heartbeatsPerSecond: number;
  heartbeatBytesPerSecond: number;
  meanHeartbeatBytes: number;
  maxHeartbeatBytes: number;
  shardDigests: number;
  /** Everything published under the subject prefix by every process in the window (authority heartbeats, the other node's, …). */
  allSubjectsMessagesPerSecond: number;
  allSubjectsBytesPerSecond: number;
  nodeRssBytes: number;
};
type Params = {
  levels: readonly number[];
  windowMs: number;
  sessionsPerAccount: number;
  shardCount: number;
  heartbeatIntervalMs: number;
  heartbeatSizeBoundBytes: number;
  measured: string;
};
type Metrics = { levels: readonly Level[]; loadAverage: readonly number[] };
export type HeartbeatCostReport = BenchReport<Params, Metrics>;

/** Counts messages and payload bytes on a subscription while `counting` is on. */
class Tally {
  messages = 0;
  bytes = 0;
  maxBytes = 0;
  last: Uint8Array | undefined;
  counting = false;
  readonly done: Promise<void>;

  constructor(sub: Subscription) {
    this.done = (async () => {
      for await (const m of sub) {
        if (!this.counting) continue;
        this.messages += 1;
        this.bytes += m.data.length;
        this.maxBytes = Math.max(this.maxBytes, m.data.length);
        this.last = m.data;
      }
    })();
  }

  reset(): void {
    this.messages = 0;
    this.bytes = 0;
    this.maxBytes = 0;
    this.last = undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runHeartbeatCost(o: Partial<HeartbeatCostOptions> = {}): Promise<HeartbeatCostReport> {
  const levels = o.levels ?? [0, 2000, 10_000];
  const windowMs = o.windowMs ?? 10_000;
  if (levels.some((l, i) => !Number.isSafeInteger(l) || l < 0 || (i > 0 && l < (levels[i - 1] ?? 0)))) {
    throw new RangeError(`levels must be ascending non-negative integers, got ${levels.join(', ')}`);
  }
  const top = levels[levels.length - 1] ?? 0;
  requireOpenFiles(SCENARIO, top + 1000);
  const accounts = Math.ceil(top / SESSIONS_PER_ACCOUNT);
  const startedAt = new Date().toISOString();
  const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000 });
  const clients: RawXmppClient[] = [];
  const nc = await cluster.connection();
  const subs = subjects(PREFIX);
  const hbSub = nc.subscribe(subs.heartbeat(cluster.node(0).nodeId));
  const allSub = nc.subscribe(`${PREFIX}.>`);
  const hb = new Tally(hbSub);
  const all = new Tally(allSub);
  try {
    await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'hb' }, 0, accounts, o.signal);
    await primeClientKeys(cluster, Array.from({ length: accounts }, (_, j) => `hb${j}`), 'SCRAM-SHA-256', o.signal);
    const results: Level[] = [];
    for (const level of levels) {
      if (o.signal?.aborted === true) break;
      const from = clients.length;
      const { errors } = await runPool(level - from, { concurrency: 64, deadline: performance.now() + 900_000, ...(o.signal ? { signal: o.signal } : {}) }, async (k) => {
        const n = from + k;
        const username = `hb${Math.floor(n / SESSIONS_PER_ACCOUNT)}`;
        const c = new RawXmppClient({
          port: cluster.node(0).port, domain: cluster.domain, username, password: benchPassword(username),
          resource: `r${n % SESSIONS_PER_ACCOUNT}`, mechanism: 'SCRAM-SHA-256', maxPresences: 2 * SESSIONS_PER_ACCOUNT,
        });
        clients.push(c);
        await c.login();
      });
      if (errors.length > 0) throw errors[0];
      await sleep(SETTLE_MS);
      hb.reset();
      all.reset();
      hb.counting = true;
      all.counting = true;
      const t0 = performance.now();
      await sleep(windowMs);
      hb.counting = false;
      all.counting = false;
      const seconds = (performance.now() - t0) / 1000;
      const last = hb.last === undefined ? undefined : clusterProto.Heartbeat.decode(hb.last);
      results.push({
        sessions: clients.filter((c) => c.phase === 'live').length,
        sessionsInHeartbeat: last?.shards.reduce((n, s) => n + s.count, 0) ?? 0,
        heartbeats: hb.messages,
        heartbeatsPerSecond: Math.round((hb.messages / seconds) * 100) / 100,
        heartbeatBytesPerSecond: Math.round(hb.bytes / seconds),
        meanHeartbeatBytes: hb.messages > 0 ? Math.round(hb.bytes / hb.messages) : 0,
        maxHeartbeatBytes: hb.maxBytes,
        shardDigests: last?.shards.length ?? 0,
        allSubjectsMessagesPerSecond: Math.round((all.messages / seconds) * 100) / 100,
        allSubjectsBytesPerSecond: Math.round(all.bytes / seconds),
        nodeRssBytes: rss(cluster.node(0).service.pid ?? 0),
      });
    }
    // The cluster runs with the defaults: read them where the services do.
    const shardCount = DEFAULT_SHARD_COUNT;
    const heartbeatIntervalMs = readClusterTimings(new EnvReader({})).heartbeatIntervalMs;
    const summaryLevels = results
      .map((l) => `${l.sessions} sessions: ${l.heartbeatsPerSecond} msg/s, ${l.heartbeatBytesPerSecond} B/s (${l.shardDigests} shard digests, ≤ ${l.maxHeartbeatBytes} B each)`)
      .join('; ');
    return {
      scenario: SCENARIO,
      startedAt,
      machine: machine(),
      params: {
        levels,
        windowMs,
        sessionsPerAccount: SESSIONS_PER_ACCOUNT,
        shardCount,
        heartbeatIntervalMs,
        heartbeatSizeBoundBytes: shardCount * MAX_DIGEST_ENTRY_BYTES + 128,
        measured:
          `a NATS subscription to ${subs.heartbeat(cluster.node(0).nodeId)} (the measured node's heartbeats; payload bytes, ` +
          `without the NATS protocol line) and to ${PREFIX}.> (every process), over the window at each level, ` +
          `${SETTLE_MS} ms after the last login; sessions idle on connection node 1, ${SESSIONS_PER_ACCOUNT} per account`,
      },
      metrics: { levels: results, loadAverage: loadAverage() },
      summary: `${SCENARIO}: node heartbeats per level: ${summaryLevels}`,
    };
  } finally {
    hbSub.unsubscribe();
    allSub.unsubscribe();
    await Promise.all([hb.done, all.done]);
    for (const c of clients) c.destroy();
    await cluster.stop();
  }
}
