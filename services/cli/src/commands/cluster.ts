import { api } from '@vigil/proto';
import type { Command, Group } from '../command.js';
import { Exit } from '../exit-codes.js';
import { duration, label, table, toJson } from '../output.js';

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

export const cluster: Group = { name: 'cluster', summary: 'connection nodes and shards', commands: [nodes, shards] };
