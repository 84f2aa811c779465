import type { api } from '@vigil/proto';

/**
 * ListNatsServers as pure functions: which servers a replica knows of (its
 * configuration, the server pool of its client, the connect_urls the servers
 * announce), and the list people read once each was probed.
 */

export const NATS_DEFAULT_PORT = 4222;

/** A NATS URL or host[:port] as `host:port`, without scheme or credentials; undefined when it is no address. */
export function natsAddress(url: string): string | undefined {
  const text = url.trim();
  if (text === '') return undefined;
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `nats://${text}`);
  } catch {
    return undefined;
  }
  if (u.hostname === '') return undefined;
  const port = u.port === '' ? NATS_DEFAULT_PORT : Number(u.port);
  return `${u.hostname.toLowerCase()}:${port}`;
}

export interface KnownServers {
  /** The replica's VIGIL_NATS_URL entries. */
  readonly configured: readonly string[];
  /** Its client's server pool: each entry's `listen` (host:port) and whether the cluster gossiped it. */
  readonly pool: readonly { readonly listen: string; readonly gossiped: boolean }[];
  /** connect_urls of the server it is connected to. */
  readonly connectUrls: readonly string[];
}

export interface Candidate {
  readonly address: string;
  readonly configured: boolean;
  readonly discovered: boolean;
}

/** Every address to probe, once each, configured ones first, then by address; unreadable entries are skipped. */
export function candidates(k: KnownServers, max: number): Candidate[] {
  const by = new Map<string, { configured: boolean; discovered: boolean }>();
  const add = (url: string, configured: boolean, discovered: boolean): void => {
    const address = natsAddress(url);
    if (address === undefined) return;
    const c = by.get(address) ?? { configured: false, discovered: false };
    by.set(address, { configured: c.configured || configured, discovered: c.discovered || discovered });
  };
  for (const u of k.configured) add(u, true, false);
  for (const s of k.pool) add(s.listen, false, s.gossiped);
  for (const u of k.connectUrls) add(u, false, true);
  return [...by.entries()]
    .map(([address, c]) => ({ address, ...c }))
    .sort((a, b) => Number(b.configured) - Number(a.configured) || a.address.localeCompare(b.address))
    .slice(0, max);
}

/** What one probe found: the server's INFO, or why there was none. */
export type ProbeResult =
  | { readonly reachable: true; readonly serverId: string; readonly serverName: string; readonly version: string; readonly probeMs: number }
  | { readonly reachable: false; readonly error: string };

/**
 * The list people read: one entry per server. Addresses whose probes reached
 * the same server id are one entry (the first address, configured ones
 * first, with the flags of all); `connectedServerId` marks the server the
 * replica's connection is to. Ordered by address.
 */
export function serverList(found: readonly { readonly candidate: Candidate; readonly probe: ProbeResult }[], connectedServerId: string): api.cluster.NatsServer[] {
  const out: api.cluster.NatsServer[] = [];
  const byId = new Map<string, api.cluster.NatsServer>();
  for (const { candidate: c, probe: p } of found) {
    const same = p.reachable ? byId.get(p.serverId) : undefined;
    if (same !== undefined) {
      same.configured ||= c.configured;
      same.discovered ||= c.discovered;
      continue;
    }
    const entry: api.cluster.NatsServer = p.reachable
      ? { address: c.address, configured: c.configured, discovered: c.discovered, reachable: true, connected: p.serverId === connectedServerId, serverName: p.serverName, serverId: p.serverId, version: p.version, probeMs: Math.round(p.probeMs), error: '' }
      : { address: c.address, configured: c.configured, discovered: c.discovered, reachable: false, connected: false, serverName: '', serverId: '', version: '', probeMs: 0, error: p.error };
    if (p.reachable) byId.set(p.serverId, entry);
    out.push(entry);
  }
  return out.sort((a, b) => a.address.localeCompare(b.address));
}

/** The INFO line a NATS server sends first on every client connection; undefined when `line` is none. */
export function parseInfoLine(line: string): { serverId: string; serverName: string; version: string; connectUrls: string[] } | undefined {
  if (!line.startsWith('INFO ')) return undefined;
  let info: unknown;
  try {
    info = JSON.parse(line.slice(5));
  } catch {
    return undefined;
  }
  if (typeof info !== 'object' || info === null) return undefined;
  const o = info as Record<string, unknown>;
  const str = (k: string): string => (typeof o[k] === 'string' ? o[k] : '');
  if (str('server_id') === '') return undefined;
  const urls = Array.isArray(o.connect_urls) ? o.connect_urls.filter((u): u is string => typeof u === 'string') : [];
  return { serverId: str('server_id'), serverName: str('server_name'), version: str('version'), connectUrls: urls };
}
