import { connect } from '@nats-io/transport-node';
import { natsConnectionTuning } from '@vigil/config';
import { createLogger, stopOnSignals } from '@vigil/telemetry';
import { openStores } from '@vigil/store';
import { readNodeConfig } from './config.js';
import { ClusterLink } from './cluster-link.js';
import { TcpListener } from './tcp-listener.js';

const bootLog = createLogger({ service: 'connection-node' });

async function main(): Promise<void> {
  const config = readNodeConfig(process.env);
  const nc = await connect({ servers: config.natsUrl, name: `vigil-node-${config.nodeId}`, ...natsConnectionTuning(config.timings) });
  const stores = await openStores(nc);
  const link = new ClusterLink(nc, config, createLogger({ service: 'connection-node', node: config.nodeId }, { level: config.logLevel }));
  const log = createLogger({ service: 'connection-node', node: config.nodeId, incarnation: link.incarnation }, { level: config.logLevel });
  link.start();
  const listener = new TcpListener({ config, accounts: stores.accounts, link, log });
  const port = await listener.listen(config.c2sHost, config.c2sPort);
  log.info('ready', { host: config.c2sHost, port, domain: config.domain, nats: nc.getServer() });

  stopOnSignals(log, nc, async () => {
    log.info('closing client streams', { sessions: link.sessions.size });
    await listener.close();
    link.stop();
  });
}

main().catch((e: unknown) => {
  bootLog.error('failed to start', { err: e });
  process.exit(1);
});
