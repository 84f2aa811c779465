import { api } from '@vigil/proto';
import type { Command, Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { duration, histogramQuantile, label, table, toJson } from '../output.js';

const C = api.cluster;

const nodes: Command = {
  name: 'nodes',
  args: '',
  arity: [0, 0],
  summary: 'list connection nodes with their lease state and sessions',
  description: `The connection nodes the serving authority replica heard from recently: lease
state (live; late after two missed heartbeats; expired once the lease ran
out and its sessions were declared unavailable), age of the last heartbeat,
announced sessions, shards with sessions, and the process incarnation.`,
  async run(ctx) {
    const api = ctx.api();
    const res = await api.call(api.cluster.listNodes.bind(api.cluster), {});
    if (ctx.json) ctx.printJson(toJson(C.ListNodesResponse, res));
    else if (res.nodes.length === 0) ctx.print('no connection nodes heard from');
    else {
      const rows = res.nodes.map((n) => [
        n.nodeId,
        label(C.leaseStateToJSON(n.leaseState), 'LEASE_STATE_'),
        `${duration(n.lastHeartbeatAgeMs)} ago`,
        String(n.sessions),
        String(n.shards),
        n.incarnation,
      ]);
      ctx.print(table(['node', 'lease', 'last heartbeat', 'sessions', 'shards', 'incarnation'], rows));
    }
    return Exit.OK;
  },
};

const shards: Command = {
  name: 'shards',
  args: '',
  arity: [0, 0],
  summary: 'list every shard with its owner and epoch',
  description: `Every shard with the authority replica holding its lock, the epoch (the KV
revision at which the owner took it; it grows at every change of owner) and
when the owner last renewed it. A shard without an owner is being handed
over.`,
  async run(ctx) {
    const api = ctx.api();
    const res = await api.call(api.cluster.listShards.bind(api.cluster), {});
    if (ctx.json) {
      ctx.printJson(toJson(C.ListShardsResponse, res));
      return Exit.OK;
    }
    const now = Date.now();
    const rows = res.shards.map((s) => [
      String(s.shard),
      s.ownerId === '' ? '(none: hand-over)' : s.ownerId,
      String(s.epoch),
      s.renewedAtUnixMs > 0 ? `${duration(now - s.renewedAtUnixMs)} ago` : '',
    ]);
    const owners = res.owners.length === 0 ? 'none' : res.owners.join(', ');
    ctx.print(`${res.shards.length} shards; owners: ${owners}\n${table(['shard', 'owner', 'epoch', 'renewed'], rows)}`);
    return Exit.OK;
  },
};

const detection: Command = {
  name: 'detection',
  args: '',
  arity: [0, 0],
  summary: 'how fast deaths were announced and how much presence went out',
  description: `Per cause (graceful, client-lost, node-lost, kicked): deaths timed and the
latency from the evidence of a death to the end of its unavailable fan-out,
as quantiles read from the authority's histogram buckets ("≤ 5 ms" means the
bucket with that upper bound holds the quantile). Then the presence stanzas
fanned out, with their recent rate, and each authority replica's share.
Summed over the replicas that answered within a second; those that did not
are named.`,
  async run(ctx) {
    const api = ctx.api();
    const res = await api.call(api.cluster.getDetectionMetrics.bind(api.cluster), {});
    if (ctx.json) {
      ctx.printJson(toJson(C.GetDetectionMetricsResponse, res));
      return Exit.OK;
    }
    const latencyRows = res.detectionLatency.map(({ cause, histogram: h }) => [
      cause,
      String(h?.count ?? 0),
      ...[0.5, 0.9, 0.99].map((q) => (h === undefined ? '' : histogramQuantile(h, q))),
      h === undefined || h.count === 0 ? '' : duration((h.sumSeconds / h.count) * 1000),
    ]);
    const fanOutRows = res.fanOut.map((f) => [f.kind, String(f.total), `${f.perSecond.toFixed(1)}/s`]);
    const replicaRows = res.authorities.map((a) => [
      a.authorityId + (a.incompatible ? ' (other histogram bounds: left out)' : ''),
      String(a.detections),
      String(a.unavailableStanzas),
      a.rateWindowMs > 0 ? `${a.unavailablePerSecond.toFixed(1)}/s over ${duration(a.rateWindowMs)}` : 'no rate yet',
    ]);
    const parts = [
      latencyRows.length === 0 ? 'no deaths timed yet' : table(['cause', 'deaths', 'p50', 'p90', 'p99', 'mean'], latencyRows),
      fanOutRows.length === 0 ? 'no presence fanned out yet' : table(['presence', 'stanzas', 'rate'], fanOutRows),
      table(['authority', 'deaths', 'unavailable', 'unavailable rate'], replicaRows),
    ];
    if (res.unanswered.length > 0) parts.push(`not answering in time (missing from the sums): ${res.unanswered.join(', ')}`);
    ctx.print(parts.join('\n\n'));
    return Exit.OK;
  },
};

const nats: Command = {
  name: 'nats',
  args: '',
  arity: [0, 0],
  summary: "the cluster's NATS servers, each probed now",
  description: `The NATS servers the serving authority replica knows: from its own
configuration (VIGIL_NATS_URL) and those the cluster announces. Each is
probed with a fresh TCP connection: reachable servers show their name,
version and the time to their INFO; unreachable ones say why. The server the
replica is connected to is marked. Exit status 0 even when some are down:
read the table (or --json) for that.`,
  async run(ctx) {
    const api = ctx.api();
    const res = await api.call(api.cluster.listNatsServers.bind(api.cluster), {});
    if (ctx.json) {
      ctx.printJson(toJson(C.ListNatsServersResponse, res));
      return Exit.OK;
    }
    const source = (s: api.cluster.NatsServer) => [s.configured ? 'configured' : '', s.discovered ? 'discovered' : ''].filter(Boolean).join(', ');
    const rows = res.servers.map((s) => [
      s.address + (s.connected ? ' *' : ''),
      source(s),
      s.reachable ? 'up' : `down: ${s.error}`,
      s.serverName,
      s.version,
      s.reachable ? `${s.probeMs} ms` : '',
    ]);
    const cluster = res.clusterName === '' ? 'single server (no NATS cluster name)' : `NATS cluster ${res.clusterName}`;
    ctx.print(`${cluster}, as ${res.authorityId} sees it (* = its connection)\n${table(['server', 'known from', 'state', 'name', 'version', 'probe'], rows)}`);
    return Exit.OK;
  },
};

export const cluster: Group = { name: 'cluster', summary: 'connection nodes, shards, detection metrics and NATS servers', commands: [nodes, shards, detection, nats] };
