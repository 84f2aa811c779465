/**
 * login-rate: full logins per second (TCP connect, stream, SCRAM-SHA-256
 * against 4,096-iteration stored keys, bind, roster with 20 contacts,
 * initial presence) at bounded concurrency, on two connection nodes. The
 * client caches its salted password as real clients do, so the figure is the
 * server's cost, not PBKDF2 in the load generator.
 *
 * Before the measured logins, a separate population (users w0…, a ring of
 * their own) logs in and out once: the figure is a running server's, not
 * V8 compiling the login path in fresh processes (about a fifth of the CPU
 * of a cold window). The measured users' rosters, registry entries and
 * caches are untouched by it. `--warmup 0` measures cold processes.
 */
import { performance } from 'node:perf_hooks';
import { Cluster } from '@vigil/testkit';
import { RawXmppClient } from '../load/raw-client.js';
import { runPool } from '../pool.js';
import { describeLatency, machine, roundMs, summarize, type BenchReport, type LatencySummary } from '../report.js';
import { provisionRing, ringContacts } from '../chaos/population.js';
import { benchPassword } from './population.js';
import { cpuTimeMs, ioSyscalls, loadAverage, rss } from './process-stats.js';

type Params = { users: number; contacts: number; concurrency: number; mechanism: string; storedIterations: number; warmupLogins: number };
type Metrics = {
  loginsPerSecond: number; latency: LatencySummary | null; failed: number; wallSeconds: number;
  /**
   * Stream errors, stanza errors, unreadable or unexpected input the logged-in
   * clients received (see RawXmppClient.problems), and logins whose roster
   * did not hold the user's contacts.
   */
  protocolProblems: number;
  /** The first failed logins' and problems' messages. */
  firstErrors: string[];
  /** RSS growth of the connection nodes and the authority per logged-in session (bytes), after GC had a chance. */
  nodeBytesPerSession: number | null; authorityBytesPerSession: number | null;
  /**
   * CPU time (user + system, from /proc) each process spent during the
   * logins, per login, in ms: where a login's cost goes, whatever else
   * shares the machine. Nodes together (each serves half the logins).
   */
  cpuMsPerLogin: { nodes: number; authority: number; nats: number | null; loadGenerator: number; total: number } | null;
  /** read and write system calls per login of each process (/proc/<pid>/io), nodes together. */
  syscallsPerLogin: Record<'nodes' | 'authority' | 'nats' | 'loadGenerator', { reads: number; writes: number }> | null;
  loadAverage: readonly number[];
};
export type LoginRateReport = BenchReport<Params, Metrics>;

/** Warm-up logins when the command line does not say: enough for V8 to optimize the login path. */
const DEFAULT_WARMUP_LOGINS = 2000;

export async function runLoginRate(o: { users?: number; contacts?: number; concurrency?: number; warmup?: number; signal?: AbortSignal }): Promise<LoginRateReport> {
  const users = o.users ?? 2000;
  const warmupLogins = o.warmup ?? Math.min(users, DEFAULT_WARMUP_LOGINS);
  const contacts = o.contacts ?? 20;
  const concurrency = o.concurrency ?? 64;
  const startedAt = new Date().toISOString();
  const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000 });
  const clients: RawXmppClient[] = [];
  /** The contacts each client's roster must list, by client. */
  const expectedRoster: number[] = [];
  try {
    const graph = ringContacts(users, contacts, cluster.domain);
    await provisionRing(cluster, graph);
    const names = [...graph.keys()].map((b) => b.split('@')[0] as string);
    const latencies: number[] = [];
    const nodePids = cluster.nodes.map((n) => n.service.pid ?? 0);
    const authPid = cluster.authority.pid ?? 0;
    const natsPid = cluster.nats?.process.pid;
    const cpu = () => ({
      nodes: nodePids.reduce((n, pid) => n + cpuTimeMs(pid), 0), authority: cpuTimeMs(authPid),
      nats: natsPid === undefined ? NaN : cpuTimeMs(natsPid), loadGenerator: cpuTimeMs(process.pid),
    });
    if (warmupLogins > 0) {
      await warmUp(cluster, warmupLogins, contacts, concurrency, () => { const c = cpu(); return c.nodes + c.authority + (Number.isNaN(c.nats) ? 0 : c.nats); }, o.signal);
    }
    const before = { nodes: nodePids.map(rss), authority: rss(authPid) };
    const pids = { nodes: nodePids, authority: [authPid], nats: natsPid === undefined ? [] : [natsPid], loadGenerator: [process.pid] };
    const syscalls = () => Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.map(ioSyscalls).reduce((a, b) => ({ reads: a.reads + b.reads, writes: a.writes + b.writes }), { reads: 0, writes: 0 })]));
    const sys0 = syscalls();
    const cpu0 = cpu();
    const t0Us = process.hrtime.bigint() / 1000n;
    const t0 = performance.now();
    const { errors } = await runPool(names.length, { concurrency, deadline: t0 + 600_000, ...(o.signal ? { signal: o.signal } : {}) }, async (i) => {
      const username = names[i] as string;
      const c = loginClient(cluster, username, i);
      clients.push(c);
      expectedRoster.push(graph.get(`${username}@${cluster.domain}`)?.size ?? 0);
      const start = performance.now();
      await c.login();
      latencies.push(performance.now() - start);
    });
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = cpu();
    const sys1 = syscalls();
    process.stderr.write(`bench: logins from monotonic ${t0Us} µs to ${process.hrtime.bigint() / 1000n} µs (bench/tools/cpuprofile-top.mjs --from-us/--to-us)\n`);
    const per = (k: keyof typeof cpu0) => Math.round(((cpu1[k] - cpu0[k]) / Math.max(1, latencies.length)) * 1000) / 1000;
    const cpuMsPerLogin = latencies.length === 0 ? null : {
      nodes: per('nodes'), authority: per('authority'), nats: natsPid === undefined ? null : per('nats'), loadGenerator: per('loadGenerator'),
      total: Math.round((per('nodes') + per('authority') + (natsPid === undefined ? 0 : per('nats')) + per('loadGenerator')) * 1000) / 1000,
    };
    const perLogin = (n: number) => Math.round((n / Math.max(1, latencies.length)) * 10) / 10;
    const syscallsPerLogin = latencies.length === 0 ? null : Object.fromEntries(Object.keys(pids).map((k) => [k, {
      reads: perLogin((sys1[k]?.reads ?? 0) - (sys0[k]?.reads ?? 0)), writes: perLogin((sys1[k]?.writes ?? 0) - (sys0[k]?.writes ?? 0)),
    }])) as Metrics['syscallsPerLogin'];
    // Idle for a moment so the processes settle, then read RSS again (memory per idle session).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = { nodes: nodePids.map(rss), authority: rss(authPid) };
    const grown = (a: number[], b: number[]) => b.reduce((n, v, i) => n + v - (a[i] ?? 0), 0);
    const nodeBytesPerSession = latencies.length > 0 ? Math.round(grown(before.nodes, after.nodes) / latencies.length) : null;
    const authorityBytesPerSession = latencies.length > 0 ? Math.round((after.authority - before.authority) / latencies.length) : null;
    const lat = summarize(latencies) ?? null;
    const wrongRosters = clients.filter((c, i) => c.phase === 'live' && c.rosterItems !== expectedRoster[i]);
    const protocolProblems = clients.reduce((n, c) => n + c.problemCount, 0) + wrongRosters.length;
    const firstErrors = [
      ...errors.slice(0, 5).map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))),
      ...clients.filter((c) => c.problemCount > 0).slice(0, 5).map((c) => `${c.jid}: ${c.problems.join('; ')}`),
      ...wrongRosters.slice(0, 5).map((c) => `${c.jid}: roster of ${c.rosterItems} items, ${expectedRoster[clients.indexOf(c)] ?? 0} contacts provisioned`),
    ];
    const rate = Math.round(latencies.length / wall);
    const metrics: Metrics = {
      loginsPerSecond: rate, latency: lat, failed: errors.length, protocolProblems, firstErrors, wallSeconds: roundMs(wall), nodeBytesPerSession, authorityBytesPerSession, cpuMsPerLogin, syscallsPerLogin, loadAverage: loadAverage(),
    };
    const cpuText = cpuMsPerLogin === null ? '' :
      `; CPU per login: nodes ${cpuMsPerLogin.nodes} ms, authority ${cpuMsPerLogin.authority} ms, nats-server ${cpuMsPerLogin.nats ?? '–'} ms, load generator ${cpuMsPerLogin.loadGenerator} ms (total ${cpuMsPerLogin.total} ms)`;
    const sysText = syscallsPerLogin === null ? '' :
      `; socket writes per login: nodes ${syscallsPerLogin.nodes.writes}, authority ${syscallsPerLogin.authority.writes}, nats-server ${syscallsPerLogin.nats.writes}, load generator ${syscallsPerLogin.loadGenerator.writes}`;
    return {
      scenario: 'login-rate', startedAt, machine: machine(),
      params: { users, contacts, concurrency, mechanism: 'SCRAM-SHA-256', storedIterations: cluster.scramIterations, warmupLogins },
      metrics,
      summary: `login-rate: ${latencies.length} full logins (SCRAM-SHA-256, roster of ${contacts}, initial presence; after ${warmupLogins} warm-up logins) in ${wall.toFixed(2)} s = ${rate}/s at concurrency ${concurrency}, ${errors.length} failed, ${protocolProblems} protocol problems${firstErrors.length > 0 ? ` (first: ${firstErrors[0] ?? ''})` : ''}; per login ${describeLatency(lat ?? undefined)}; RSS per idle session: nodes ${nodeBytesPerSession ?? '–'} B, authority ${authorityBytesPerSession ?? '–'} B${cpuText}${sysText}`,
    };
  } finally {
    for (const c of clients) c.destroy();
    await cluster.stop();
  }
}

/** The client of the i-th login (measured or warm-up): the nodes in turn, SCRAM, roster get, initial presence. */
function loginClient(cluster: Cluster, username: string, i: number): RawXmppClient {
  return new RawXmppClient({
    port: cluster.node(i % 2).port, domain: cluster.domain, username, password: benchPassword(username), mechanism: 'SCRAM-SHA-256', rosterGet: true, maxPresences: 4,
  });
}

/**
 * Logs `count` users of a population of their own in and out once, then
 * waits until the services are quiet again: at least the authority's longest
 * deferral of session-end writes (2 s, BackgroundWrites), then two half
 * seconds in a row in which nodes, authority and nats-server together used
 * no more CPU than idle (measured before the warm-up; with 50 % and 10 ms
 * of slack): the ended sessions' fan-outs and erasures are done.
 */
async function warmUp(cluster: Cluster, count: number, contacts: number, concurrency: number, serviceCpuMs: () => number, signal: AbortSignal | undefined): Promise<void> {
  const idleMsPerWindow = await idleCpuPerWindow(serviceCpuMs);
  const graph = ringContacts(count, contacts, cluster.domain, 'w');
  await provisionRing(cluster, graph);
  const names = [...graph.keys()].map((b) => b.split('@')[0] as string);
  const clients: RawXmppClient[] = [];
  const { errors } = await runPool(names.length, { concurrency, deadline: performance.now() + 600_000, ...(signal ? { signal } : {}) }, async (i) => {
    const username = names[i] as string;
    const c = loginClient(cluster, username, i);
    clients.push(c);
    await c.login();
  });
  if (errors.length > 0) throw new Error(`login-rate warm-up: ${errors.length} of ${count} logins failed; first: ${String(errors[0])}`);
  for (const c of clients) c.destroy();
  const left = performance.now();
  await new Promise((resolve) => setTimeout(resolve, DEFERRAL_MS));
  let last = serviceCpuMs();
  let quiet = 0;
  const deadline = performance.now() + 30_000;
  while (quiet < 2) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const now = serviceCpuMs();
    quiet = now - last <= idleMsPerWindow * 1.5 + 10 ? quiet + 1 : 0;
    if (quiet < 2 && performance.now() > deadline) {
      // Measured all the same: a busier start is the benchmark's loss, not a reason to have no figure.
      process.stderr.write(`bench: login-rate warm-up: the services were not back to their idle rate 30 s after the warm-up clients left (${Math.round(now - last)} ms CPU in the last ${QUIET_MS} ms, idle ${Math.round(idleMsPerWindow)} ms); measuring anyway\n`);
      return;
    }
    last = now;
  }
  process.stderr.write(`bench: login-rate warm-up: services quiet ${Math.round(performance.now() - left)} ms after the warm-up clients left (idle ${Math.round(idleMsPerWindow)} ms CPU per ${QUIET_MS} ms)\n`);
}

const DEFERRAL_MS = 2000;
const QUIET_MS = 500;

/** The services' CPU time in half a second while idle (heartbeats, lock renewals), averaged over two seconds. */
async function idleCpuPerWindow(serviceCpuMs: () => number): Promise<number> {
  const before = serviceCpuMs();
  await new Promise((resolve) => setTimeout(resolve, 4 * QUIET_MS));
  return (serviceCpuMs() - before) / 4;
}
