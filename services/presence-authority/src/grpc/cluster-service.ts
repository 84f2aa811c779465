import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { api, cluster, store } from '@vigil/proto';
import type { Subjects } from '@vigil/cluster';
import type { Logger } from '@vigil/telemetry';
import { ApiError } from './errors.js';
import { unary, type HandlerContext } from './handlers.js';
import type { NatsServers } from './nats-servers.js';

const L = api.cluster.LeaseState;

interface Heard {
  readonly incarnation: string;
  readonly heardAtMs: number;
  readonly sessions: number;
  readonly shards: number;
}

/** Nodes forgotten after this many leases of silence (bounds the map; they are long gone). */
const FORGET_AFTER_LEASES = 10;
/** Most nodes remembered; a heartbeat from one more evicts the longest silent. */
const MAX_NODES = 10_000;

/**
 * Connection nodes as this replica hears them: the last heartbeat of each,
 * judged against the lease like the authority does (a heartbeat is the only
 * evidence of life), with the session count its digests carry.
 */
export class NodeDirectory {
  readonly #nodes = new Map<string, Heard>();
  #sub: Subscription | undefined;

  constructor(
    private readonly deps: { readonly nc: NatsConnection; readonly subjects: Subjects; readonly heartbeatMs: number; readonly leaseMs: number; readonly log: Logger },
  ) {}

  start(): void {
    this.#sub = this.deps.nc.subscribe(this.deps.subjects.allHeartbeats, {
      callback: (err, msg) => {
        if (err) return this.deps.log.error('heartbeat subscription failed', { err });
        try {
          const hb = cluster.Heartbeat.decode(msg.data);
          const sessions = hb.shards.reduce((n, d) => n + d.count, 0);
          this.#nodes.delete(hb.nodeId); // re-insert: the map stays in order of last heard
          this.#nodes.set(hb.nodeId, { incarnation: hb.incarnation, heardAtMs: performance.now(), sessions, shards: hb.shards.length });
          if (this.#nodes.size > MAX_NODES) this.#nodes.delete(this.#nodes.keys().next().value as string);
        } catch (e) {
          this.deps.log.warn('dropped malformed heartbeat', { err: e });
        }
      },
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  list(nowMs = performance.now()): api.cluster.Node[] {
    const out: api.cluster.Node[] = [];
    for (const [nodeId, h] of this.#nodes) {
      const age = nowMs - h.heardAtMs;
      if (age > this.deps.leaseMs * FORGET_AFTER_LEASES) {
        this.#nodes.delete(nodeId);
        continue;
      }
      const leaseState = age >= this.deps.leaseMs ? L.LEASE_STATE_EXPIRED : age > this.deps.heartbeatMs * 2 ? L.LEASE_STATE_LATE : L.LEASE_STATE_LIVE;
      out.push({ nodeId, incarnation: h.incarnation, leaseState, lastHeartbeatAgeMs: Math.max(0, Math.round(age)), sessions: h.sessions, shards: h.shards });
    }
    return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }
}

export interface ClusterServiceDeps extends HandlerContext {
  readonly nodes: NodeDirectory;
  readonly shardLocks: KV;
  readonly shardCount: number;
  /** Every replica's detection metrics, summed (metrics-exchange.ts); absent in a process that does not read its own metrics. */
  readonly detection?: { gather(): Promise<api.cluster.GetDetectionMetricsResponse> };
  readonly natsServers: NatsServers;
}

/** vigil.presence.v1.ClusterService, answered by the serving replica from what it hears and reads. */
export function clusterService(d: ClusterServiceDeps): api.cluster.ClusterServiceServer {
  return {
    listNodes: unary(d, 'ListNodes', 'read', async () => ({ nodes: d.nodes.list() })),

    listShards: unary(d, 'ListShards', 'read', async () => {
      // Each lock read by its key (a listing of the bucket's keys is no cheaper and can miss a lock written while it runs).
      const locks = await Promise.all(
        Array.from({ length: d.shardCount }, async (_, shard) => {
          const entry = await d.shardLocks.get(`shard.${shard}`);
          if (entry === null || entry.operation !== 'PUT') return { shard, lock: undefined, revision: 0 };
          return { shard, lock: store.ShardLock.decode(entry.value), revision: entry.revision };
        }),
      );
      // A lock is written once, at acquisition; its owner's liveness key says when the owner last showed it holds it
      // (docs/decisions.md, "Per-replica liveness keys"). Locks of older versions carry their own renewal time.
      const livenessOf = new Map<string, number>();
      for (const owner of new Set(locks.flatMap((l) => (l.lock?.ownerLiveness ? [l.lock.ownerId] : [])))) {
        const entry = await d.shardLocks.get(`alive.${owner}`);
        livenessOf.set(owner, entry === null || entry.operation !== 'PUT' ? 0 : store.AuthorityLiveness.decode(entry.value).renewedAtUnixMs);
      }
      const shards = locks.map(({ shard, lock, revision }): api.cluster.Shard => {
        if (lock === undefined) return { shard, ownerId: '', epoch: 0, renewedAtUnixMs: 0 };
        // The epoch is the revision at acquisition: a lock written at acquisition stores 0 and its revision is the epoch.
        const renewedAtUnixMs = lock.ownerLiveness ? (livenessOf.get(lock.ownerId) ?? 0) : lock.renewedAtUnixMs;
        return { shard, ownerId: lock.ownerId, epoch: lock.epoch === 0 ? revision : lock.epoch, renewedAtUnixMs };
      });
      const owners = [...new Set(shards.map((s) => s.ownerId).filter((o) => o !== ''))].sort();
      return { shards, owners };
    }),

    getDetectionMetrics: unary(d, 'GetDetectionMetrics', 'read', async () => {
      if (d.detection === undefined) throw new ApiError(status.UNIMPLEMENTED, 'this replica was started without reading its own metrics');
      return d.detection.gather();
    }),

    listNatsServers: unary(d, 'ListNatsServers', 'read', async () => d.natsServers.list()),
  };
}
