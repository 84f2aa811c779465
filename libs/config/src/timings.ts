import { ConfigError, type EnvReader } from './env.js';

/**
 * The failure detector's timings. They depend on each other, so they are read
 * and checked together (DESIGN.md "Liveness, leases and failure detection").
 */
export interface ClusterTimings {
  readonly heartbeatIntervalMs: number;
  readonly nodeLeaseMs: number;
  readonly selfFenceMs: number;
  readonly shardLockTtlMs: number;
  /** Reconnect also to NATS servers the cluster announces, not only to the configured ones. */
  readonly natsDiscovery: boolean;
}

export function readClusterTimings(env: EnvReader): ClusterTimings {
  const t: ClusterTimings = {
    heartbeatIntervalMs: env.int('VIGIL_HEARTBEAT_INTERVAL_MS', 1000, 'connection-node heartbeat period', { min: 50 }),
    nodeLeaseMs: env.int('VIGIL_NODE_LEASE_MS', 3000, 'silence after which a node incarnation is declared dead', { min: 150 }),
    selfFenceMs: env.int('VIGIL_SELF_FENCE_MS', 2000, 'a node that cannot publish this long closes its streams', { min: 100 }),
    shardLockTtlMs: env.int('VIGIL_SHARD_LOCK_TTL_MS', 3000, 'TTL of a shard ownership lock in KV', { min: 500 }),
    natsDiscovery: env.bool('VIGIL_NATS_DISCOVERY', true, 'reconnect also to NATS servers the cluster announces (false: only VIGIL_NATS_URL)'),
  };
  validateTimings(t);
  return t;
}

/** The inequalities that keep the detector honest; violating one is a start-up error. */
export function validateTimings(t: ClusterTimings): void {
  // Three heartbeats per lease: one or two lost messages never expire a live node.
  if (t.heartbeatIntervalMs * 3 > t.nodeLeaseMs) {
    throw new ConfigError('VIGIL_NODE_LEASE_MS', `must be at least 3 x VIGIL_HEARTBEAT_INTERVAL_MS (${t.heartbeatIntervalMs * 3}), got ${t.nodeLeaseMs}`);
  }
  // A node fences itself before the cluster can declare it dead: no zombie streams.
  if (t.selfFenceMs >= t.nodeLeaseMs) {
    throw new ConfigError('VIGIL_SELF_FENCE_MS', `must be below VIGIL_NODE_LEASE_MS (${t.nodeLeaseMs}), got ${t.selfFenceMs}`);
  }
  if (t.selfFenceMs <= t.heartbeatIntervalMs) {
    throw new ConfigError('VIGIL_SELF_FENCE_MS', `must exceed VIGIL_HEARTBEAT_INTERVAL_MS (${t.heartbeatIntervalMs}), got ${t.selfFenceMs}`);
  }
}

/**
 * nats.js options for a failure detector, derived from the timings. The
 * client's defaults (10 reconnect attempts, 2 s between them, a ping every
 * 2 minutes) suit apps, not leases: retry forever, quickly, and notice a dead
 * server within about a lease.
 */
export function natsConnectionTuning(t: ClusterTimings): {
  maxReconnectAttempts: number;
  reconnectTimeWait: number;
  reconnectJitter: number;
  pingInterval: number;
  maxPingOut: number;
  noAsyncTraces: boolean;
  ignoreClusterUpdates: boolean;
} {
  return {
    maxReconnectAttempts: -1,
    reconnectTimeWait: Math.max(100, Math.floor(t.heartbeatIntervalMs / 4)),
    reconnectJitter: Math.max(50, Math.floor(t.heartbeatIntervalMs / 10)),
    pingInterval: t.heartbeatIntervalMs,
    maxPingOut: 2,
    // nats.js builds an Error per request to keep async stack traces; on the
    // fan-out and probe paths that cost more CPU than the requests themselves.
    noAsyncTraces: true,
    ignoreClusterUpdates: !t.natsDiscovery,
  };
}
