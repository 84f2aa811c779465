/**
 * memory: resident memory of the connection nodes and of the authority
 * before and after N idle authenticated sessions (SCRAM-SHA-256, bound,
 * initial presence, empty rosters, no TLS), and the growth per session.
 * login-rate reports the same growth for users with rosters of 20 (which
 * the authority caches); here rosters are empty, so the authority's figure is
 * its per-session state alone, the roster cache being bounded separately
 * (VIGIL_ROSTER_CACHE_SIZE).
 *
 * RSS is read from /proc once the processes had time to settle (15 s by
 * default: the authority's idle collection compacts its old space 1.5–2 s
 * after the storm; the young generation the storm grew to 2 × 16 MB comes
 * back only when V8's memory reducer judges the process idle, 20–26 s
 * after it in two runs, not within 30 s in another);
 * it includes whatever the garbage collector has not returned yet, so it is
 * an upper bound of the live cost. The report also keeps every process's
 * RSS once a second after the last login, so the settling is visible.
 */
import { performance } from 'node:perf_hooks';
import { Cluster, createSelfSignedCert } from '@vigil/testkit';
import type { RawXmppClient } from '../load/raw-client.js';
import { machine, type BenchReport } from '../report.js';
import { loginIdle, primeClientKeys, provisionPairs } from './population.js';
import { loadAverage, requireOpenFiles, rss } from './process-stats.js';

export const SCENARIO = 'memory';

export type MemoryOptions = {
  readonly sessions: number;
  /** Clients over XEP-0368 direct TLS (a self-signed certificate made for the run) instead of plain TCP. */
  readonly tls: boolean;
  /** Quiet time before each reading. */
  readonly settleMs: number;
  readonly signal?: AbortSignal;
};

const NODES = 2;

type Reading = { nodes: readonly number[]; authority: number };
/** RSS once a second after the last login, MB with one decimal. */
type Settling = { atSeconds: number; nodesMb: readonly number[]; authorityMb: number }[];
type Params = { sessions: number; nodes: number; settleMs: number; tls: boolean; rosterItems: number; measured: string };
type Metrics = {
  before: Reading;
  after: Reading;
  settling: Settling;
  sessionsLive: number;
  /** Growth of both nodes' RSS together, per session (sessions are split evenly). */
  nodeBytesPerSession: number | null;
  authorityBytesPerSession: number | null;
  loginSeconds: number;
  loadAverage: readonly number[];
};
export type MemoryReport = BenchReport<Params, Metrics>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runMemory(o: Partial<MemoryOptions> = {}): Promise<MemoryReport> {
  const sessions = o.sessions ?? 10_000;
  const settleMs = o.settleMs ?? 15_000;
  if (!Number.isSafeInteger(sessions) || sessions < 1) throw new RangeError(`sessions must be an integer ≥ 1, got ${sessions}`);
  requireOpenFiles(SCENARIO, sessions + 1000);
  const startedAt = new Date().toISOString();
  const cert = o.tls === true ? await createSelfSignedCert({ domain: 'localhost' }) : undefined;
  const cluster = await Cluster.start({
    nodes: NODES, readyTimeoutMs: 60_000,
    ...(cert ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile, required: false }, directTls: true } : {}),
  });
  const clients: RawXmppClient[] = [];
  const name = cert ? `${SCENARIO}-tls` : SCENARIO;
  const over = cert ? 'direct TLS' : 'no TLS';
  try {
    await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'm' }, 0, sessions, o.signal);
    await primeClientKeys(cluster, Array.from({ length: sessions }, (_, j) => `m${j}`), 'SCRAM-SHA-256', o.signal);
    const read = (): Reading => ({ nodes: cluster.nodes.map((n) => rss(n.service.pid ?? 0)), authority: rss(cluster.authority.pid ?? 0) });
    await sleep(settleMs);
    const before = read();
    const t0 = performance.now();
    await loginIdle(cluster, 'm', sessions, 'SCRAM-SHA-256', clients, o.signal, cert?.certPem);
    const loginSeconds = (performance.now() - t0) / 1000;
    const settling: Settling = [];
    const mb = (b: number) => Math.round(b / 104857.6) / 10;
    for (let second = 1; second * 1000 < settleMs; second++) {
      await sleep(1000);
      const r = read();
      settling.push({ atSeconds: second, nodesMb: r.nodes.map(mb), authorityMb: mb(r.authority) });
    }
    await sleep(settleMs - settling.length * 1000);
    const after = read();
    const live = clients.filter((c) => c.phase === 'live').length;
    const nodeGrowth = after.nodes.reduce((n, v, i) => n + v - (before.nodes[i] ?? 0), 0);
    const nodeBytesPerSession = live > 0 ? Math.round(nodeGrowth / live) : null;
    const authorityBytesPerSession = live > 0 ? Math.round((after.authority - before.authority) / live) : null;
    const kb = (b: number | null) => (b === null ? '–' : `${(b / 1024).toFixed(1)} KB`);
    return {
      scenario: name,
      startedAt,
      machine: machine(),
      params: {
        sessions,
        nodes: NODES,
        settleMs,
        tls: cert !== undefined,
        rosterItems: 0,
        measured: `VmRSS from /proc/<pid>/status of each connection node and the authority, ${settleMs} ms after provisioning and ${settleMs} ms after the last login; sessions split evenly over the nodes`,
      },
      metrics: { before, after, settling, sessionsLive: live, nodeBytesPerSession, authorityBytesPerSession, loginSeconds: Math.round(loginSeconds * 10) / 10, loadAverage: loadAverage() },
      summary:
        `${name}: ${live} idle authenticated sessions (${over}, empty rosters) over ${NODES} nodes: ` +
        `connection nodes ${kb(nodeBytesPerSession)} RSS per session, authority ${kb(authorityBytesPerSession)} per session`,
    };
  } finally {
    for (const c of clients) c.destroy();
    await cluster.stop();
    await cert?.remove();
  }
}
