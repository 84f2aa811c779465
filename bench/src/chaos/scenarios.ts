import { performance } from 'node:perf_hooks';
import type { Cluster } from '@vigil/testkit';
import type { Member } from './population.js';
import { shardsReowned } from './shard-owners.js';

export const LEASE_MS = 3000;
export const LOCK_TTL_MS = 3000;
export const SELF_FENCE_MS = 2000;

export interface Fault {
  /** Users whose sessions the fault ends: they must be announced unavailable. */
  readonly dead: Set<string>;
  /** Undoes the fault after the checks: restarts what was killed. */
  readonly recover: () => Promise<void>;
  /** performance.now() when a frozen process was let go (SIGCONT). */
  readonly resumedAt?: number;
  /** performance.now() when the deadly part began, when the scenario did harmless things first. */
  readonly faultAt?: number;
  /** An authority was killed: ms until all its shards had another owner (undefined: not within 30 s). */
  readonly reowned?: Promise<number | undefined>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Needs more than one NATS server / authority. */
  readonly needs?: { readonly natsServers?: number; readonly authorities?: number; readonly partitionable?: boolean };
  inject(cluster: Cluster, members: readonly Member[], trial: number): Promise<Fault>;
}

const usersOn = (members: readonly Member[], node: number) => new Set(members.filter((m) => m.node === node).map((m) => m.bare));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'kill-node',
    description: 'SIGKILL a connection node',
    async inject(cluster, members, trial) {
      const i = trial % cluster.nodes.length;
      cluster.node(i).service.signal('SIGKILL');
      return { dead: usersOn(members, i), recover: async () => void (await cluster.restartNode(i)) };
    },
  },
  {
    name: 'kill-authority',
    description: 'SIGKILL a presence-authority replica',
    needs: { authorities: 2 },
    async inject(cluster, _members, trial) {
      const j = trial % cluster.authorities.length;
      const at = performance.now();
      cluster.authorities[j]?.signal('SIGKILL');
      const reowned = shardsReowned(cluster, `authority-${j + 1}`, at);
      return { dead: new Set(), reowned, recover: async () => void (await cluster.restartAuthority(j)) };
    },
  },
  {
    name: 'kill-node-and-authority',
    description: 'SIGKILL a connection node and an authority replica at the same moment',
    needs: { authorities: 2 },
    async inject(cluster, members, trial) {
      const i = trial % cluster.nodes.length;
      const j = trial % cluster.authorities.length;
      const at = performance.now();
      cluster.node(i).service.signal('SIGKILL');
      cluster.authorities[j]?.signal('SIGKILL');
      const reowned = shardsReowned(cluster, `authority-${j + 1}`, at);
      return {
        dead: usersOn(members, i),
        reowned,
        recover: async () => {
          await cluster.restartAuthority(j);
          await cluster.restartNode(i);
        },
      };
    },
  },
  {
    name: 'kill-nats',
    description: 'SIGKILL one NATS server of the cluster',
    needs: { natsServers: 3 },
    async inject(cluster, _members, trial) {
      const nats = cluster.natsCluster;
      if (!nats) throw new Error('kill-nats needs a NATS cluster');
      const k = trial % nats.servers.length;
      nats.servers[k]?.kill();
      return { dead: new Set(), recover: async () => void (await nats.restart(k)) };
    },
  },
  {
    name: 'pause-node-short',
    description: `SIGSTOP a connection node for ${LEASE_MS / 3} ms (less than the lease), then SIGCONT`,
    async inject(cluster, _members, trial) {
      const i = trial % cluster.nodes.length;
      cluster.node(i).service.signal('SIGSTOP');
      await pause(LEASE_MS / 3);
      cluster.node(i).service.signal('SIGCONT');
      return { dead: new Set(), recover: async () => undefined };
    },
  },
  {
    name: 'pause-node-long',
    description: `SIGSTOP a connection node for ${LEASE_MS + 2000} ms (past the lease), then SIGCONT: it must fence itself`,
    async inject(cluster, members, trial) {
      const i = trial % cluster.nodes.length;
      cluster.node(i).service.signal('SIGSTOP');
      await pause(LEASE_MS + 2000);
      cluster.node(i).service.signal('SIGCONT');
      return { dead: usersOn(members, i), recover: async () => undefined, resumedAt: performance.now() };
    },
  },
  {
    name: 'pause-authority',
    description: `SIGSTOP an authority replica for ${LOCK_TTL_MS / 2} ms, then SIGCONT`,
    async inject(cluster, _members, trial) {
      const j = trial % cluster.authorities.length;
      cluster.authorities[j]?.signal('SIGSTOP');
      await pause(LOCK_TTL_MS / 2);
      cluster.authorities[j]?.signal('SIGCONT');
      return { dead: new Set(), recover: async () => undefined };
    },
  },
  {
    name: 'rolling-restart',
    description:
      'a rolling restart: every NATS server, then every authority replica, one after another (SIGTERM, wait until ready); ' +
      'then one connection node drained with SIGTERM (its users are announced at once) and started again',
    async inject(cluster, members, trial) {
      const nats = cluster.natsCluster;
      for (let k = 0; nats && k < nats.servers.length; k++) {
        await nats.restart(k);
        // JetStream needs its peer back in the group before the next one goes.
        await pause(LOCK_TTL_MS);
      }
      for (let j = 0; j < cluster.authorities.length; j++) await cluster.restartAuthority(j);
      const i = trial % cluster.nodes.length;
      const faultAt = performance.now();
      await cluster.node(i).service.stop();
      return { dead: usersOn(members, i), faultAt, recover: async () => void (await cluster.restartNode(i)) };
    },
  },
  {
    name: 'partition-node',
    description:
      'cut connection node 1 off from every NATS server (its NATS links drop all traffic, no reset) while its clients stay connected; ' +
      'it must fence itself (end its streams) before the cluster announces its users, and rejoin when the partition heals',
    needs: { partitionable: true },
    async inject(cluster, members) {
      const partition = cluster.partition(0);
      const service = cluster.node(0).service;
      partition.cut();
      return {
        dead: usersOn(members, 0),
        recover: async () => {
          const earlier = new Set(service.records);
          partition.heal();
          await service.waitForLog((r) => r.msg === 'NATS reconnected' && !earlier.has(r), 60_000, 'node 1 back on NATS after the partition');
        },
      };
    },
  },
];
