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
  /** Connection nodes: the victims on node 0, observer j on node 1 + j mod (nodes − 1). */
  readonly nodes: number;
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
}

export const FAN_OUT_DEFAULTS = { victims: 1000, contacts: 20, observers: 500, nodes: 2, deadlineMs: 30_000 } as const;

type Params = { mode: FanOutMode; victims: number; contacts: number; observers: number; nodes: number; expected: number; nodeLeaseMs: number };
type Metrics = {
  lastMs: number | null;
  firstMs: number | null;
  latency: LatencySummary | null;
  delivered: number;
  missing: number;
  duplicate: number;
  unexpected: number;
  stanzasPerSecond: number | null;
  /**
   * CPU time (user + system, from /proc) each process spent from the fault
   * until the last expected stanza arrived (or the deadline), above what it
   * spends idle, in µs per delivered stanza: the victims' node (only in
   * mass-disconnect: it is dead or frozen otherwise), the observers' nodes
   * together, the authority, nats-server, the load generator. The idle rate
   * (heartbeats, lock renewals, timers) is measured over IDLE_WINDOW_MS
   * before the fault (after SETTLE_MS) and subtracted for the window's length: node-crash
   * waits out a 3 s lease before any work starts. /proc counts in 10 ms
   * ticks, so small runs carry a few µs of error per stanza (the load
   * generator reads its own with µs resolution; its share includes its 20 ms
   * polling of the arrival counts and, in mass-disconnect, closing the
   * victims' sockets).
   */
  cpuUsPerStanza: { victimNode: number | null; observerNodes: number; authority: number; nats: number | null; loadGenerator: number; total: number } | null;
  /** The same above-idle CPU per victim session (N), for the cost per session and per contact. */
  cpuUsPerSession: number | null;
  loadAverage: readonly number[];
  setupSeconds: number;
};

export type FanOutReport = BenchReport<Params, Metrics>;

/**
 * The processes' idle CPU rate is measured over IDLE_WINDOW_MS before the
 * fault, after SETTLE_MS of quiet: right after the logins the nodes still
 * release parsers and collect garbage, which is not their idle rate.
 */
const SETTLE_MS = 3000;
const IDLE_WINDOW_MS = 3000;

const ownCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

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
  if (!Number.isInteger(o.nodes) || o.nodes < 2) throw new RangeError(`nodes must be an integer ≥ 2 (victims on one, observers on the others), got ${o.nodes}`);
  const startedAt = new Date().toISOString();
  const setupStart = performance.now();
  const cluster = await Cluster.start({ nodes: o.nodes, readyTimeoutMs: 60_000, echo: process.env.VIGIL_BENCH_ECHO === '1' });
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
    const observers = Array.from({ length: o.observers }, (_, j) => login(observer(j), 1 + (j % (o.nodes - 1)), perObserver * 3 + 16));
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
    const pids = {
      victimNode: cluster.node(0).service.pid ?? 0,
      observerNodes: cluster.nodes.slice(1).map((n) => n.service.pid ?? 0),
      authority: cluster.authority.pid ?? 0,
      nats: cluster.nats?.process.pid,
    };
    const cpu = () => ({
      victimNode: cpuTimeMs(pids.victimNode),
      observerNodes: pids.observerNodes.reduce((n, pid) => n + cpuTimeMs(pid), 0),
      authority: cpuTimeMs(pids.authority),
      nats: pids.nats === undefined ? NaN : cpuTimeMs(pids.nats),
      // This process's own figure from process.cpuUsage(): µs resolution instead of /proc's 10 ms ticks.
      loadGenerator: ownCpuMs(),
    });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const idle0 = cpu();
    const idleStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
    const idle1 = cpu();
    const idleMs = performance.now() - idleStart;
    const cpu0 = cpu();
    const t0 = performance.now();
    const t0Us = process.hrtime.bigint() / 1000n;
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
    const cpu1 = cpu();
    const windowMs = performance.now() - t0;
    // For windowed CPU profiles (VIGIL_CHILD_NODE_ARGS="--cpu-prof …"): the profiles' clock is this one.
    process.stderr.write(`bench: fault at monotonic ${t0Us} µs, wait ended at ${process.hrtime.bigint() / 1000n} µs (bench/tools/cpuprofile-top.mjs --from-us/--to-us)\n`);
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
    const perStanza = (ms: number) => Math.round((ms * 1000) / Math.max(1, delivered) * 100) / 100;
    type CpuKey = 'victimNode' | 'observerNodes' | 'authority' | 'nats' | 'loadGenerator';
    const aboveIdle = (k: CpuKey) => cpu1[k] - cpu0[k] - ((idle1[k] - idle0[k]) / idleMs) * windowMs;
    const cpuUs = {
      victimNode: o.mode === 'disconnect' ? perStanza(aboveIdle('victimNode')) : null,
      observerNodes: perStanza(aboveIdle('observerNodes')),
      authority: perStanza(aboveIdle('authority')),
      nats: Number.isNaN(cpu1.nats) ? null : perStanza(aboveIdle('nats')),
      loadGenerator: perStanza(aboveIdle('loadGenerator')),
    };
    const cpuTotal = (cpuUs.victimNode ?? 0) + cpuUs.observerNodes + cpuUs.authority + (cpuUs.nats ?? 0) + cpuUs.loadGenerator;
    // A stanza error, a stream error or input an observer could not read fails the run: the counts above would not mean what they say.
    const problems = observers.filter((c) => c.problemCount > 0);
    const firstMs = delivered > 0 ? Math.min(...latencies) : null;
    const lastMs = delivered > 0 ? Math.max(...latencies) : null;
    const metrics: Metrics = {
      lastMs: lastMs === null ? null : roundMs(lastMs),
      firstMs: firstMs === null ? null : roundMs(firstMs),
      latency: lat,
      delivered,
      missing: expectedPairs.length - delivered,
      duplicate,
      unexpected,
      stanzasPerSecond: lastMs !== null && firstMs !== null && lastMs > firstMs ? Math.round(delivered / ((lastMs - firstMs) / 1000)) : null,
      cpuUsPerStanza: delivered > 0 ? { ...cpuUs, total: Math.round(cpuTotal * 100) / 100 } : null,
      cpuUsPerSession: delivered > 0 ? Math.round((cpuTotal * delivered) / o.victims) : null,
      loadAverage: loadAverage(),
      setupSeconds: Math.round(setupSeconds),
    };
    const params: Params = { mode: o.mode, victims: o.victims, contacts: o.contacts, observers: o.observers, nodes: o.nodes, expected: expectedPairs.length, nodeLeaseMs: 3000 };
    const name = o.mode === 'kill' ? 'node-crash' : o.mode === 'stop' ? 'node-freeze' : 'mass-disconnect';
    const summary =
      `${name}: ${o.victims} sessions × ${o.contacts} contacts (${o.nodes} nodes) → ${delivered}/${expectedPairs.length} unavailable, ` +
      `last after ${lastMs === null ? '–' : Math.round(lastMs)} ms (first ${firstMs === null ? '–' : Math.round(firstMs)} ms), ` +
      `${metrics.stanzasPerSecond ?? '–'} stanzas/s during fan-out, missing ${metrics.missing}, duplicate ${duplicate}, unexpected ${unexpected}; ${describeLatency(lat ?? undefined)}` +
      (metrics.cpuUsPerStanza === null ? '' : `; CPU per stanza ${metrics.cpuUsPerStanza.total} µs (authority ${metrics.cpuUsPerStanza.authority}, observer nodes ${metrics.cpuUsPerStanza.observerNodes}, load generator ${metrics.cpuUsPerStanza.loadGenerator})`);
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
