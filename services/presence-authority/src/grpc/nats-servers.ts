import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { NatsConnection } from '@nats-io/transport-node';
import type { api } from '@vigil/proto';
import { candidates, parseInfoLine, serverList, type ProbeResult } from '../nats-server-list.js';

/** A probe that gets no INFO line within this long counts the server unreachable. */
export const PROBE_TIMEOUT_MS = 1000;
/** One answer serves every caller for this long (several consoles must not multiply the probes). */
const REUSE_MS = 1000;
/** Most servers probed per answer: a NATS cluster has a handful. */
const MAX_SERVERS = 32;
/** An INFO line longer than this is not one (a server's INFO is a few hundred bytes, plus its connect_urls). */
const MAX_INFO_BYTES = 64 * 1024;

/**
 * Connects to `address` (host:port) and reads the INFO line a NATS server
 * sends before anything else, then hangs up without sending CONNECT: proof
 * that a NATS server answers there now, with its id, name and version.
 */
export function probeNats(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  const started = performance.now();
  return new Promise((resolve) => {
    let buffered = '';
    let done = false;
    const socket = tcpConnect({ host, port });
    const finish = (r: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ reachable: false, error: `no INFO within ${timeoutMs} ms` }), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\r\n');
      if (end < 0) {
        if (buffered.length > MAX_INFO_BYTES) finish({ reachable: false, error: 'not a NATS server (no INFO line)' });
        return;
      }
      const info = parseInfoLine(buffered.slice(0, end));
      finish(info === undefined
        ? { reachable: false, error: 'not a NATS server (no INFO line)' }
        : { reachable: true, serverId: info.serverId, serverName: info.serverName, version: info.version, probeMs: performance.now() - started });
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish({ reachable: false, error: e.code ?? e.message }));
    socket.on('close', () => finish({ reachable: false, error: 'closed before INFO' }));
  });
}

/**
 * The NATS servers of the cluster as this replica knows them, each probed
 * now: its configured URLs, its client's server pool (gossiped entries
 * included) and the connect_urls of the server it is connected to.
 */
export class NatsServers {
  #last: { readonly atMs: number; readonly answer: Promise<api.cluster.ListNatsServersResponse> } | undefined;

  constructor(
    private readonly deps: {
      readonly nc: NatsConnection;
      readonly configured: readonly string[];
      readonly authorityId: string;
      /** The replica's NATS connection is up now (its status events say so). */
      readonly connected: () => boolean;
      readonly probe?: typeof probeNats;
    },
  ) {}

  list(): Promise<api.cluster.ListNatsServersResponse> {
    const now = performance.now();
    if (this.#last === undefined || now - this.#last.atMs > REUSE_MS) this.#last = { atMs: now, answer: this.#look() };
    return this.#last.answer;
  }

  async #look(): Promise<api.cluster.ListNatsServersResponse> {
    const { nc, configured, authorityId } = this.deps;
    const probe = this.deps.probe ?? probeNats;
    const info = nc.info;
    const toProbe = candidates({ configured, pool: nc.getServers().map((s) => ({ listen: s.listen, gossiped: s.gossiped })), connectUrls: info?.connect_urls ?? [] }, MAX_SERVERS);
    const found = await Promise.all(toProbe.map(async (candidate) => ({ candidate, probe: await probe(candidate.address) })));
    // While disconnected the last INFO still names a server: do not call it connected.
    const connectedId = info === undefined || nc.isClosed() || !this.deps.connected() ? '' : info.server_id;
    return { servers: serverList(found, connectedId), authorityId, clusterName: info?.cluster ?? '' };
  }
}

