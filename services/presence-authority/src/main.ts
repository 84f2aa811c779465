import { connect } from '@nats-io/transport-node';
import { subjects } from '@vigil/cluster';
import { natsConnectionTuning } from '@vigil/config';
import { BusHealth, createLogger, stopOnSignals } from '@vigil/telemetry';
import { startTelemetry } from '@vigil/telemetry/sdk';
import { openShardLocks, openStores } from '@vigil/store';
import { readAuthorityConfig } from './config.js';
import { Authority } from './authority.js';
import { startIdleCollector } from './idle-collector.js';
import { mallocInUse } from './malloc-in-use.js';
import { GrpcApi } from './grpc/server.js';
import { AuthorityMetrics } from './metrics.js';
import { MetricsExchange } from './metrics-exchange.js';
import { skipErrorsOfAnsweredRequests } from './nats-requests.js';

const bootLog = createLogger({ service: 'presence-authority' });

async function main(): Promise<void> {
  skipErrorsOfAnsweredRequests();
  const config = readAuthorityConfig(process.env);
  const log = createLogger({ service: 'presence-authority', authority: config.authorityId }, { level: config.logLevel });
  // The SDK first: instruments created before it would stay no-ops. /readyz answers 503 until the end of the start.
  // Read back in-process too: GetDetectionMetrics serves the numbers /metrics exports, from the same aggregation.
  const telemetry = await startTelemetry({ serviceName: 'presence-authority', instanceId: config.authorityId, ...config.telemetry, log, inProcessReadings: true });
  const metrics = new AuthorityMetrics({ shardCount: config.shardCount, nodeLeaseMs: config.timings.nodeLeaseMs });
  const nc = await connect({
    servers: config.natsUrl,
    name: `vigil-authority-${config.authorityId}`,
    ...natsConnectionTuning(config.timings),
  });
  const bus = new BusHealth(nc, log);
  const stores = await openStores(nc, { replicas: config.kvReplicas });
  const shardLocks = await openShardLocks(nc, { replicas: config.kvReplicas, lockTtlMs: config.timings.shardLockTtlMs });
  const authority = new Authority({ nc, stores, config, log, shardLocks, metrics });
  await authority.start();
  // One full collection after each burst of session changes, in place of a tight heap-growth flag (idle-collector.ts).
  const stopIdleCollector = startIdleCollector(() => authority.registry.size, log);
  // Every replica answers its peers' metrics requests, with or without an API of its own.
  const exchange = new MetricsExchange({
    nc, subjects: subjects(config.subjectPrefix), authorityId: config.authorityId, read: () => telemetry.read(), members: () => authority.shards.members(), log,
  });
  exchange.start();
  const api = config.grpc.port > 0 ? new GrpcApi({ nc, stores, shardLocks, config, log, metrics, detection: exchange, local: authority.localOwner }) : undefined;
  const grpcPort = await api?.start();
  // Ready = can do its job now: NATS connected and the API (when configured) listening. Owning shards is not
  // required: a replica whose peers own every shard still serves the API and takes shards over when they fail.
  telemetry.setReadiness(() => ({ nats: bus.connected, ...(api ? { grpc: api.listening } : {}) }));
  log.info('ready', {
    nats: nc.getServer(), domain: config.domain, shards: config.shardCount, owned: authority.shards.owned.size, grpc: grpcPort ?? 'off', metricsPort: telemetry.httpPort ?? 'off',
    // The heap settings in effect (SERVICE_NODE_FLAGS in libs/testkit/src/service-flags.ts, why in docs/decisions.md).
    nodeFlags: process.execArgv,
    // jemalloc when the start script found libjemalloc2 (docs/decisions.md, "jemalloc for the authority").
    malloc: mallocInUse(),
  });

  stopOnSignals(log, nc, async () => {
    telemetry.setReadiness(() => ({ stopping: false }));
    stopIdleCollector();
    await api?.stop();
    exchange.stop();
    await authority.stop();
    bus.stop();
    await telemetry.stop();
  });
}

main().catch((e: unknown) => {
  bootLog.error('failed to start', { err: e });
  process.exit(1);
});
