/**
 * silent-death: a client that stops answering without closing TCP (a phone
 * out of coverage, a cut cable, a frozen laptop). Nothing tells the node: it
 * finds out with XEP-0199 pings (idle time, then ping timeout) and then
 * tells the contacts `<presence type='unavailable'/>` like for any lost
 * client. Measured with the node's DEFAULT ping settings unless overridden:
 * from the moment the client goes silent (stops reading and writing; the
 * socket stays open) to its contact on the other node receiving unavailable.
 *
 * Each victim has its own contact; all victims go silent at once, since the
 * wait (about idle + timeout) dominates and they do not interfere.
 */
import { performance } from 'node:perf_hooks';
import { readNodeConfig } from '@vigil/connection-node';
import { Cluster, DeadlineError } from '@vigil/testkit';
import type { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { describeLatency, machine, roundMs, summarize, type BenchReport, type LatencySummary } from '../report.js';
import { benchClient, primeClientKeys, provisionPairs } from './population.js';
import { loadAverage } from './process-stats.js';

export const SCENARIO = 'silent-death';

export type SilentDeathOptions = {
  /** Clients that go silent (each with its own contact on the other node). */
  readonly victims: number;
  /** Override VIGIL_CLIENT_IDLE_PING_MS / VIGIL_CLIENT_PING_TIMEOUT_MS (the smoke test does); the nodes' defaults otherwise. */
  readonly idlePingMs?: number;
  readonly pingTimeoutMs?: number;
  readonly signal?: AbortSignal;
};

type Params = {
  victims: number;
  nodes: number;
  clientIdlePingMs: number;
  clientPingTimeoutMs: number;
  settings: string;
  measured: string;
};
type Metrics = {
  samples: number;
  missing: number;
  /** From going silent to the contact's unavailable. */
  latencyMs: LatencySummary | null;
  /** From the victim's last byte written (what the node's idle clock counts from) to the contact's unavailable. */
  sinceLastByteMs: LatencySummary | null;
  samplesMs: readonly number[];
  firstErrors: readonly string[];
  loadAverage: readonly number[];
};
export type SilentDeathReport = BenchReport<Params, Metrics>;

const NODES = 2;
const MAX_ERRORS_KEPT = 5;

export async function runSilentDeath(o: Partial<SilentDeathOptions> = {}): Promise<SilentDeathReport> {
  const victims = o.victims ?? 20;
  if (!Number.isSafeInteger(victims) || victims < 1) throw new RangeError(`victims must be an integer ≥ 1, got ${victims}`);
  const env: Record<string, string> = {
    ...(o.idlePingMs !== undefined ? { VIGIL_CLIENT_IDLE_PING_MS: String(o.idlePingMs) } : {}),
    ...(o.pingTimeoutMs !== undefined ? { VIGIL_CLIENT_PING_TIMEOUT_MS: String(o.pingTimeoutMs) } : {}),
  };
  // The nodes' effective settings, read by their own config module from the same environment.
  const effective = readNodeConfig({ VIGIL_NODE_ID: 'bench', ...env });
  const startedAt = new Date().toISOString();
  const cluster = await Cluster.start({ nodes: NODES, env, readyTimeoutMs: 60_000 });
  const clients: RawXmppClient[] = [];
  try {
    await provisionPairs(cluster, { a: 'silent', b: 'friend', lone: 'unused' }, victims, 0, o.signal);
    await primeClientKeys(cluster, Array.from({ length: victims }, (_, i) => [`silent${i}`, `friend${i}`]).flat(), 'SCRAM-SHA-256', o.signal);
    const pairs = Array.from({ length: victims }, (_, i) => {
      const victim = benchClient(cluster, 0, `silent${i}`, 'SCRAM-SHA-256');
      const friend = benchClient(cluster, 1, `friend${i}`, 'SCRAM-SHA-256');
      clients.push(victim, friend);
      return { victim, friend };
    });
    const limits = { concurrency: 16, deadline: performance.now() + 300_000, ...(o.signal ? { signal: o.signal } : {}) };
    const logins = await runPool(pairs.length, limits, async (i) => {
      const p = pairs[i];
      if (p === undefined) return;
      await Promise.all([p.victim.login(), p.friend.login()]);
      await p.friend.waitForPresence(p.victim.jid, 'available', 30_000);
    });
    if (logins.errors.length > 0) throw logins.errors[0];

    const marks = pairs.map((p) => p.friend.presences.mark());
    const t0 = performance.now();
    for (const p of pairs) p.victim.goSilent();
    // Generous: twice the detection budget, plus a minute for a loaded machine.
    const deadlineMs = 2 * (effective.clientIdlePingMs + effective.clientPingTimeoutMs) + 60_000;
    const samples: number[] = [];
    const sinceLastByte: number[] = [];
    const errors: string[] = [];
    let missing = 0;
    await Promise.all(
      pairs.map(async (p, i) => {
        try {
          const gone = await p.friend.waitForPresence(p.victim.jid, 'unavailable', deadlineMs, marks[i]);
          samples.push(gone.at - t0);
          sinceLastByte.push(gone.at - p.victim.lastSentAt);
        } catch (e) {
          if (e instanceof DeadlineError) missing += 1;
          else errors.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
        }
      }),
    );
    const latency = summarize(samples) ?? null;
    const settings = o.idlePingMs === undefined && o.pingTimeoutMs === undefined ? 'defaults' : 'overridden';
    return {
      scenario: SCENARIO,
      startedAt,
      machine: machine(),
      params: {
        victims,
        nodes: NODES,
        clientIdlePingMs: effective.clientIdlePingMs,
        clientPingTimeoutMs: effective.clientPingTimeoutMs,
        settings,
        measured:
          'performance.now() when the victim pauses its socket and stops writing (TCP stays open), to the socket read ' +
          "on its contact's connection (other node) that carried <presence type='unavailable'/> from the victim",
      },
      metrics: {
        samples: samples.length,
        missing,
        latencyMs: latency,
        sinceLastByteMs: summarize(sinceLastByte) ?? null,
        samplesMs: samples.map(roundMs),
        firstErrors: errors.slice(0, MAX_ERRORS_KEPT),
        loadAverage: loadAverage(),
      },
      summary:
        `${SCENARIO}: silent client (TCP open, nothing read or written) → unavailable at its contact: ${describeLatency(latency ?? undefined)} ` +
        `(${samples.length} samples, ${missing} missing, ${errors.length} failed; ping idle ${effective.clientIdlePingMs} ms + timeout ${effective.clientPingTimeoutMs} ms, ${settings})`,
    };
  } finally {
    for (const c of clients) c.destroy();
    await cluster.stop();
  }
}
