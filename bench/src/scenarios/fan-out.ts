/**
 * node-crash and mass-disconnect: N sessions on one connection node, each
 * with K mutual contacts among M observers on the other node. The victims
 * die together: their node is SIGKILLed (node-crash), frozen with SIGSTOP
 * (node-freeze), or they all drop their sockets while the node lives
 * (mass-disconnect). Measured: time from the fault to the last of the N×K
 * unavailable stanzas, their latency distribution, missing / duplicate /
 * unexpected counts and the delivery rate.
 */
import { performance } from 'node:perf_hooks';
import { Cluster } from '@vigil/testkit';
import type { Contact } from '@vigil/store';
import { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { describeLatency, machine, roundMs, summarize, type BenchReport, type JsonValue, type LatencySummary } from '../report.js';
import { benchPassword, primeClientKeys } from './population.js';
import { cpuTimeMs, loadAverage } from './process-stats.js';

export type FanOutMode = 'kill' | 'stop' | 'disconnect';

export interface FanOutOptions {
  readonly mode: FanOutMode;
  readonly victims: number;
  readonly contacts: number;
  readonly observers: number;
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
}

export const FAN_OUT_DEFAULTS = { victims: 1000, contacts: 20, observers: 500, deadlineMs: 30_000 } as const;

type Params = { mode: FanOutMode; victims: number; contacts: number; observers: number; expected: number; nodeLeaseMs: number };
type Metrics = {
  lastMs: number | null;
  firstMs: number | null;
  latency: LatencySummary | null;
  delivered: number;
  missing: number;
  duplicate: number;
  unexpected: number;
  stanzasPerSecond: number | null;
  setupSeconds: number;
  /**
   * CPU time (user + system, from /proc) each process spent from the fault
   * until the last stanza arrived (or the deadline), per delivered stanza,
   * in µs. nodes: every connection node still running; the load generator
   * includes its 20 ms polling of the arrival counts and, for
   * mass-disconnect, closing the victims' sockets; loadGeneratorSystem is
   * the part of it spent in the kernel (socket reads and closes).
   */
  cpuUsPerStanza: { nodes: number; authority: number; nats: number | null; loadGenerator: number; loadGeneratorSystem: number } | null;
  loadAverage: readonly number[];
};

export type FanOutReport = BenchReport<Params, Metrics>;

const victim = (i: number) => `v${i}`;
const observer = (j: number) => `o${j}`;

/** Victim i's contacts: K consecutive observers starting at i·K mod M, so each observer gets N·K/M victims. */
function contactsOf(i: number, k: number, m: number): number[] {
  const out = new Set<number>();
  for (let c = 0; out.size < Math.min(k, m); c++) out.add((i * k + c) % m);
  return [...out];
}

export async function runFanOut(options: Partial<FanOutOptions> & { mode: FanOutMode }): Promise<FanOutReport> {
  const o: FanOutOptions = { ...FAN_OUT_DEFAULTS, ...options };
  const startedAt = new Date().toISOString();
  const setupStart = performance.now();
  const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000, echo: process.env.VIGIL_BENCH_ECHO === '1' });
  const clients: RawXmppClient[] = [];
  try {
    await provision(cluster, o);
    const names = [...Array.from({ length: o.victims }, (_, i) => victim(i)), ...Array.from({ length: o.observers }, (_, j) => observer(j))];
    await primeClientKeys(cluster, names, 'SCRAM-SHA-256', o.signal);
    const perObserver = Math.ceil((o.victims * o.contacts) / o.observers);
    const login = (username: string, node: number, kept: number) => {
      const c = new RawXmppClient({ port: cluster.node(node).port, domain: cluster.domain, username, password: benchPassword(username), resource: 'r', mechanism: 'SCRAM-SHA-256', maxPresences: kept });
      clients.push(c);
      return c;
    };
    const observers = Array.from({ length: o.observers }, (_, j) => login(observer(j), 1, perObserver * 3 + 16));
    const victims = Array.from({ length: o.victims }, (_, i) => login(victim(i), 0, o.contacts * 2 + 8));
    const all = [...observers, ...victims];
    const { errors } = await runPool(all.length, { concurrency: 32, deadline: performance.now() + 600_000, ...(o.signal ? { signal: o.signal } : {}) }, async (n) => {
      await all[n]?.login();
    });
    if (errors.length > 0) throw errors[0];
    // Everyone has seen every contact online before the fault.
    const expectedPairs: [RawXmppClient, string][] = [];
    for (let i = 0; i < o.victims; i++) for (const j of contactsOf(i, o.contacts, o.observers)) expectedPairs.push([observers[j] as RawXmppClient, `${victim(i)}@${cluster.domain}/r`]);
    await Promise.all(expectedPairs.map(([obs, from]) => obs.waitForPresence(from, 'available', 120_000)));
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const marks = new Map(observers.map((c) => [c, c.presences.mark()]));
    const before = new Map(observers.map((c) => [c, c.presences.count('unavailable')]));
    const nodePids = cluster.nodes.map((n) => n.service.pid ?? 0);
    const authPid = cluster.authority.pid ?? 0;
    const natsPid = cluster.nats?.process.pid;
    const cpu = () => ({
      nodes: nodePids.map(cpuTimeMs), authority: cpuTimeMs(authPid),
      nats: natsPid === undefined ? NaN : cpuTimeMs(natsPid),
    });
    const cpu0 = cpu();
    // This process's own figure from process.cpuUsage(): µs resolution instead of /proc's 10 ms ticks, and split user / system.
    const ownCpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (o.mode === 'kill') cluster.node(0).service.signal('SIGKILL');
    else if (o.mode === 'stop') cluster.node(0).service.signal('SIGSTOP');
    else for (const v of victims) v.destroy();
    // Wait by counting, not with a waiter per expected stanza: the load generator shares the two cores
    // with the services, and 100,000 waiters cost it more than parsing the stanzas. Receive times come
    // from the socket reads either way; what arrived is checked exactly below.
    while (performance.now() < t0 + o.deadlineMs) {
      let arrived = 0;
      for (const obs of observers) arrived += obs.presences.count('unavailable') - (before.get(obs) ?? 0);
      if (arrived >= expectedPairs.length) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A killed node's /proc entry is gone (0 ms after): only the survivors' CPU counts for the nodes.
    const cpu1 = cpu();
    const ownCpu = process.cpuUsage(ownCpu0);
    if (o.mode === 'stop') cluster.node(0).service.signal('SIGCONT');
    // Count what arrived: first copy per (observer, victim) is delivered, more are duplicates, anything from a non-contact is unexpected.
    const contactSets = new Map<RawXmppClient, Set<string>>();
    for (const [obs, from] of expectedPairs) contactSets.set(obs, (contactSets.get(obs) ?? new Set()).add(from));
    const latencies: number[] = [];
    let duplicate = 0;
    let unexpected = 0;
    for (const obs of observers) {
      const seen = new Map<string, number>();
      for (const r of obs.presences.records) {
        if (r.seq < (marks.get(obs) ?? 0)) continue;
        if (!contactSets.get(obs)?.has(r.from)) {
          unexpected++;
          continue;
        }
        if (r.type !== 'unavailable') continue;
        seen.set(r.from, (seen.get(r.from) ?? 0) + 1);
        if (seen.get(r.from) === 1) latencies.push(r.at - t0);
      }
      for (const n of seen.values()) duplicate += n - 1;
    }
    const lat = summarize(latencies) ?? null;
    const delivered = latencies.length;
    // A stanza error, a stream error or input an observer could not read fails the run: the counts above would not mean what they say.
    const problems = observers.filter((c) => c.problemCount > 0);
    const firstMs = delivered > 0 ? Math.min(...latencies) : null;
    const lastMs = delivered > 0 ? Math.max(...latencies) : null;
    const perStanza = (ms: number) => Math.round(((ms * 1000) / Math.max(1, delivered)) * 100) / 100;
    // A killed node reads 0 afterwards (no /proc entry): a negative difference is not counted.
    const nodesMs = cpu1.nodes.reduce((n, after, i) => n + Math.max(0, after - (cpu0.nodes[i] ?? 0)), 0);
    const cpuUsPerStanza = delivered === 0 ? null : {
      nodes: perStanza(nodesMs), authority: perStanza(cpu1.authority - cpu0.authority), nats: natsPid === undefined ? null : perStanza(cpu1.nats - cpu0.nats),
      loadGenerator: perStanza((ownCpu.user + ownCpu.system) / 1000), loadGeneratorSystem: perStanza(ownCpu.system / 1000),
    };
    const metrics: Metrics = {
      lastMs: lastMs === null ? null : roundMs(lastMs),
      firstMs: firstMs === null ? null : roundMs(firstMs),
      latency: lat,
      delivered,
      missing: expectedPairs.length - delivered,
      duplicate,
      unexpected,
      stanzasPerSecond: lastMs !== null && firstMs !== null && lastMs > firstMs ? Math.round(delivered / ((lastMs - firstMs) / 1000)) : null,
      setupSeconds: Math.round(setupSeconds),
      cpuUsPerStanza,
      loadAverage: loadAverage(),
    };
    const params: Params = { mode: o.mode, victims: o.victims, contacts: o.contacts, observers: o.observers, expected: expectedPairs.length, nodeLeaseMs: 3000 };
    const name = o.mode === 'kill' ? 'node-crash' : o.mode === 'stop' ? 'node-freeze' : 'mass-disconnect';
    const summary =
      `${name}: ${o.victims} sessions × ${o.contacts} contacts → ${delivered}/${expectedPairs.length} unavailable, ` +
      `last after ${lastMs === null ? '–' : Math.round(lastMs)} ms (first ${firstMs === null ? '–' : Math.round(firstMs)} ms), ` +
      `${metrics.stanzasPerSecond ?? '–'} stanzas/s during fan-out, missing ${metrics.missing}, duplicate ${duplicate}, unexpected ${unexpected}; ${describeLatency(lat ?? undefined)}` +
      (cpuUsPerStanza === null ? '' :
        `; CPU per stanza: nodes ${cpuUsPerStanza.nodes} µs, authority ${cpuUsPerStanza.authority} µs, nats-server ${cpuUsPerStanza.nats ?? '–'} µs, load generator ${cpuUsPerStanza.loadGenerator} µs (${cpuUsPerStanza.loadGeneratorSystem} µs of it in the kernel)`);
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).map((c) => `${c.jid}: ${c.problems.join('; ')}`);
      throw new Error(
        `${name}: ${problems.reduce((n, c) => n + c.problemCount, 0)} protocol problem(s) at ${problems.length} observer(s): ${shown.join(' | ')} (figures: ${summary})`,
      );
    }
    return { scenario: name, startedAt, machine: machine(), params, metrics: metrics as unknown as Readonly<Record<string, JsonValue>> as Metrics, summary };
  } finally {
    for (const c of clients) c.destroy();
    await cluster.stop();
  }
}

async function provision(cluster: Cluster, o: FanOutOptions): Promise<void> {
  const byOwner = new Map<string, Contact[]>();
  const add = (owner: string, contact: string) => byOwner.set(owner, [...(byOwner.get(owner) ?? []), { owner, contact, subscription: 'both' }]);
  for (let i = 0; i < o.victims; i++) {
    for (const j of contactsOf(i, o.contacts, o.observers)) {
      add(victim(i), observer(j));
      add(observer(j), victim(i));
    }
  }
  const owners = [...Array.from({ length: o.victims }, (_, i) => victim(i)), ...Array.from({ length: o.observers }, (_, j) => observer(j))];
  const chunk = 50;
  const { errors } = await runPool(Math.ceil(owners.length / chunk), { concurrency: 4, deadline: performance.now() + 900_000 }, async (c) => {
    const slice = owners.slice(c * chunk, (c + 1) * chunk);
    await cluster.provision(slice.map((u) => ({ username: u, password: benchPassword(u) })), slice.flatMap((u) => byOwner.get(u) ?? []));
  });
  if (errors.length > 0) throw errors[0];
}
