import { Server, ServerCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { api, health } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import type { Stores } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import type { AuthorityConfig, GrpcConfig } from '../config.js';
import { accountService } from './account-service.js';
import { TokenAuthenticator } from './auth.js';
import { clusterService, NodeDirectory } from './cluster-service.js';
import { NatsServers } from './nats-servers.js';
import { HealthService } from './health.js';
import { migrationService } from './migration-service.js';
import { hashThreads } from '../migration/hash-pool.js';
import { OwnerClient, type LocalOwner } from './owner-client.js';
import { presenceService } from './presence-service.js';
import { addReflection } from './reflection.js';
import { rosterService } from './roster-service.js';
import { WatchHub } from './watch.js';
import { metricsInterceptor } from './metrics-interceptor.js';
import { AuthorityMetrics } from '../metrics.js';

/**
 * Plaintext, TLS, or mutual TLS: with a client CA, grpc-js asks for the
 * client's certificate and ends the handshake when it is missing or does not
 * chain to that CA (checkClientCertificate).
 */
function serverCredentials(g: GrpcConfig): ServerCredentials {
  if (g.tls === undefined) return ServerCredentials.createInsecure();
  const { certChainPem, privateKeyPem, clientCaPem } = g.tls;
  return ServerCredentials.createSsl(clientCaPem ?? null, [{ cert_chain: certChainPem, private_key: privateKeyPem }], clientCaPem !== undefined);
}

export interface GrpcApiDeps {
  readonly nc: NatsConnection;
  readonly stores: Stores;
  readonly shardLocks: KV;
  readonly config: AuthorityConfig;
  readonly log: Logger;
  /** Calls by method and status; a no-op instance when absent. */
  readonly metrics?: AuthorityMetrics;
  /** Every replica's detection metrics for GetDetectionMetrics (UNIMPLEMENTED when absent). */
  readonly detection?: { gather(): Promise<api.cluster.GetDetectionMetricsResponse> };
  /** The authority in this process: reads about its shards are answered without NATS. */
  readonly local?: LocalOwner;
}

/** Connections idle this long (no call at all) are closed; clients reconnect on their next call. */
const MAX_CONNECTION_IDLE_MS = 5 * 60_000;
/** Concurrent calls (HTTP/2 streams) on one connection. */
const MAX_CONCURRENT_STREAMS = 1000;
/** How long calls in progress may finish at shutdown before they are cut. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * The public gRPC API on one authority replica (proto/vigil/presence/v1).
 * Stateless apart from watch subscriptions: every call about a user goes to
 * the owner of the user's shard, over NATS unless it is a read and the owner
 * is this replica's own authority.
 */
export class GrpcApi {
  readonly #server: Server;
  readonly #hub: WatchHub;
  readonly #nodes: NodeDirectory;
  readonly #health: HealthService;
  #listening = false;
  #natsConnected = true;

  constructor(private readonly deps: GrpcApiDeps) {
    const { config, nc, log } = deps;
    const g = config.grpc;
    const subs = subjects(config.subjectPrefix);
    const options: ChannelOptions = {
      'grpc.max_receive_message_length': g.maxMessageBytes,
      'grpc.max_send_message_length': g.maxMessageBytes,
      'grpc.keepalive_time_ms': g.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': g.keepaliveTimeoutMs,
      'grpc.max_connection_idle_ms': MAX_CONNECTION_IDLE_MS,
      'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
      // Channelz (grpc-js's introspection, served by no service here) would keep counters and timestamps per call.
      'grpc.enable_channelz': 0,
    };
    const metrics = deps.metrics ?? new AuthorityMetrics({ shardCount: config.shardCount, nodeLeaseMs: config.timings.nodeLeaseMs });
    this.#server = new Server({ ...options, interceptors: [metricsInterceptor(metrics)] });
    const ctx = { auth: new TokenAuthenticator(g.tokens), log: log.child({ component: 'grpc' }) };
    const owners = new OwnerClient({
      nc, subjects: subs, shardCount: config.shardCount, timeoutMs: g.requestTimeoutMs, retryAfterMs: g.retryAfterMs, ...(deps.local ? { local: deps.local } : {}),
    });
    this.#hub = new WatchHub(nc, subs, ctx.log);
    this.#nodes = new NodeDirectory({ nc, subjects: subs, heartbeatMs: config.timings.heartbeatIntervalMs, leaseMs: config.timings.nodeLeaseMs, log: ctx.log });
    const domain = config.domain;
    this.#server.addService(api.presence.PresenceServiceService, presenceService({
      ...ctx, owners, domain, hub: this.#hub, watchBufferEvents: g.watchBufferEvents, maxWatchStreams: g.maxWatchStreams,
    }));
    this.#server.addService(api.roster.RosterServiceService, rosterService({ ...ctx, owners, domain }));
    this.#server.addService(api.account.AccountServiceService, accountService({
      ...ctx, owners, domain, accounts: deps.stores.accounts, scramIterations: config.scramIterations,
    }));
    this.#server.addService(api.migration.MigrationServiceService, migrationService({
      ...ctx, owners, domain, accounts: deps.stores.accounts, maxAccounts: g.importMaxAccounts,
      importer: {
        nc, subjects: subs, accounts: deps.stores.accounts, domain, shardCount: config.shardCount, maxRosterItems: config.maxRosterItems,
        scramIterations: config.scramIterations, hashThreads: hashThreads(g.importHashThreads), ownerTimeoutMs: g.requestTimeoutMs * 4, retryAfterMs: g.retryAfterMs,
      },
    }));
    const natsServers = new NatsServers({ nc, configured: config.natsUrl, authorityId: config.authorityId, connected: () => this.#natsConnected });
    this.#server.addService(api.cluster.ClusterServiceService, clusterService({
      ...ctx, nodes: this.#nodes, shardLocks: deps.shardLocks, shardCount: config.shardCount, natsServers, ...(deps.detection ? { detection: deps.detection } : {}),
    }));
    const served = [
      'vigil.presence.v1.PresenceService', 'vigil.presence.v1.RosterService', 'vigil.presence.v1.AccountService',
      'vigil.presence.v1.ClusterService', 'vigil.presence.v1.MigrationService', 'grpc.health.v1.Health',
    ];
    this.#health = new HealthService(served);
    this.#server.addService(health.HealthService, this.#health.implementation());
    // Off by default: reflection tells anyone who can connect every method and message of the API.
    if (g.reflection) addReflection(this.#server, served);
  }

  /** Bound and not stopped: part of the replica's readiness. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Listens; resolves with the bound port. */
  async start(): Promise<number> {
    this.#nodes.start();
    void this.#watchNats();
    const g = this.deps.config.grpc;
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(`${g.host}:${g.port}`, serverCredentials(g), (err, port) => {
        if (err) return reject(err);
        this.#listening = true;
        resolve(port);
      });
    });
  }

  /** Ends watch streams, lets calls in progress finish briefly, then closes every connection. */
  async stop(): Promise<void> {
    this.#listening = false;
    this.#hub.closeAll();
    this.#health.close();
    this.#nodes.stop();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #watchNats(): Promise<void> {
    for await (const s of this.deps.nc.status()) {
      if (s.type === 'disconnect') {
        this.#natsConnected = false;
        this.#health.set(false);
      }
      if (s.type === 'reconnect') {
        this.#natsConnected = true;
        this.#health.set(true);
      }
    }
  }
}
