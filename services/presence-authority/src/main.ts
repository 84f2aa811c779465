import { connect } from '@nats-io/transport-node';
import { natsConnectionTuning } from '@vigil/config';
import { createLogger, stopOnSignals } from '@vigil/telemetry';
import { openShardLocks, openStores } from '@vigil/store';
import { readAuthorityConfig } from './config.js';
import { Authority } from './authority.js';
import { GrpcApi } from './grpc/server.js';

const bootLog = createLogger({ service: 'presence-authority' });

async function main(): Promise<void> {
  const config = readAuthorityConfig(process.env);
  const log = createLogger({ service: 'presence-authority', authority: config.authorityId }, { level: config.logLevel });
  const nc = await connect({
    servers: config.natsUrl,
    name: `vigil-authority-${config.authorityId}`,
    ...natsConnectionTuning(config.timings),
  });
  const stores = await openStores(nc, { replicas: config.kvReplicas });
  const shardLocks = await openShardLocks(nc, { replicas: config.kvReplicas, lockTtlMs: config.timings.shardLockTtlMs });
  const authority = new Authority({ nc, stores, config, log, shardLocks });
  await authority.start();
  const api = config.grpc.port > 0 ? new GrpcApi({ nc, stores, shardLocks, config, log }) : undefined;
  const grpcPort = await api?.start();
  log.info('ready', { nats: nc.getServer(), domain: config.domain, shards: config.shardCount, owned: authority.shards.owned.size, grpc: grpcPort ?? 'off' });

  stopOnSignals(log, nc, async () => {
    await api?.stop();
    await authority.stop();
  });
}

main().catch((e: unknown) => {
  bootLog.error('failed to start', { err: e });
  process.exit(1);
});
