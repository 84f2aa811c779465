/**
 * preauth-memory: what unauthenticated connections cost a connection node.
 * N sockets each send a stream header and stop (they never authenticate);
 * the node's RSS is read before, with all N open, and after they are closed.
 * Pre-authentication streams get a small byte and time budget, so this
 * stays bounded whatever the clients do.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Cluster, clientStreamHeader } from '@vigil/testkit';
import { runPool } from '../pool.js';
import { machine, roundMs, type BenchReport } from '../report.js';
import { rss } from './process-stats.js';

type Params = { connections: number; concurrency: number };
type Metrics = {
  opened: number; failed: number; wallSeconds: number;
  rssBeforeBytes: number; rssOpenBytes: number; rssAfterCloseBytes: number; bytesPerConnection: number | null;
};
export type PreauthMemoryReport = BenchReport<Params, Metrics>;

/** Opens a socket, sends a stream header, resolves once the features arrive. */
function openUnauthenticated(port: number, domain: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let seen = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no stream features within 30 s'));
    }, 30_000);
    socket.setEncoding('utf8');
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (d: string) => {
      seen += d;
      if (!seen.includes('</stream:features>')) return;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve(socket);
    });
    socket.once('connect', () => socket.write(clientStreamHeader(domain)));
  });
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export async function runPreauthMemory(o: { connections?: number; concurrency?: number; signal?: AbortSignal }): Promise<PreauthMemoryReport> {
  const connections = o.connections ?? 5000;
  const concurrency = o.concurrency ?? 100;
  const startedAt = new Date().toISOString();
  // A long authentication timeout, so the measurement sees every connection still open.
  const cluster = await Cluster.start({ nodes: 1, env: { VIGIL_AUTH_TIMEOUT_MS: '600000', VIGIL_MAX_CONNECTIONS: String(connections + 100) } });
  const sockets: Socket[] = [];
  try {
    const pid = cluster.node(0).service.pid ?? 0;
    await settle(1000);
    const rssBeforeBytes = rss(pid);
    const t0 = performance.now();
    const { errors } = await runPool(connections, { concurrency, deadline: t0 + 300_000, ...(o.signal ? { signal: o.signal } : {}) }, async () => {
      sockets.push(await openUnauthenticated(cluster.node(0).port, cluster.domain));
    });
    const wallSeconds = roundMs((performance.now() - t0) / 1000);
    await settle(2000);
    const rssOpenBytes = rss(pid);
    for (const s of sockets) s.destroy();
    await settle(3000);
    const rssAfterCloseBytes = rss(pid);
    const bytesPerConnection = sockets.length > 0 ? Math.round((rssOpenBytes - rssBeforeBytes) / sockets.length) : null;
    const kb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
    return {
      scenario: 'preauth-memory', startedAt, machine: machine(),
      params: { connections, concurrency },
      metrics: { opened: sockets.length, failed: errors.length, wallSeconds, rssBeforeBytes, rssOpenBytes, rssAfterCloseBytes, bytesPerConnection },
      summary: `preauth-memory: ${sockets.length} unauthenticated streams (${errors.length} failed) cost the node ${bytesPerConnection ?? '–'} B each; RSS ${kb(rssBeforeBytes)} → ${kb(rssOpenBytes)} open → ${kb(rssAfterCloseBytes)} after closing`,
    };
  } finally {
    for (const s of sockets) s.destroy();
    await cluster.stop();
  }
}
