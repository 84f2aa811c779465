import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { natsConnectionTuning } from '@vigil/config';
import { batchedStdout, BusHealth, createLogger, stopOnSignals, type Logger } from '@vigil/telemetry';
import { startTelemetry } from '@vigil/telemetry/sdk';
import { MissingBucketError, openStores, type Stores } from '@vigil/store';
import type { NatsConnection } from '@nats-io/transport-node';
import { readNodeConfig, type NodeConfig } from './config.js';
import { DirectCredentials } from './credentials.js';
import { ClusterLink } from './cluster-link.js';
import { AuthThrottle } from './auth-throttle.js';
import { StreamSet } from './stream-set.js';
import type { ClientStream } from './client-stream.js';
import { cluster } from '@vigil/proto';
import { TcpListener } from './tcp-listener.js';
import { TlsCredentials } from './tls-credentials.js';
import { WebSocketListener } from './websocket-listener.js';
import { NodeMetrics } from './metrics.js';

const bootLog = createLogger({ service: 'connection-node' });

async function main(): Promise<void> {
  const config = readNodeConfig(process.env);
  // A login storm logs a line per login: a turn's lines leave in one write (flushed at exit too).
  const logOptions = { level: config.logLevel, write: batchedStdout().write };
  // Certificate problems stop the start, before anything connects.
  const tls = config.tls ? TlsCredentials.load(config.tls, config.domain) : undefined;
  // The SDK before any instrument exists (they would stay no-ops); /readyz answers 503 until the end of the start.
  const telemetry = await startTelemetry({
    serviceName: 'connection-node', instanceId: config.nodeId, ...config.telemetry, log: createLogger({ service: 'connection-node', node: config.nodeId }, logOptions),
  });
  const metrics = new NodeMetrics(config.nodeId);
  const nc = await connect({ servers: config.natsUrl, name: `vigil-node-${config.nodeId}`, ...natsConnectionTuning(config.timings) });
  const stores = await openBuckets(nc, config);
  const link = new ClusterLink(nc, config, createLogger({ service: 'connection-node', node: config.nodeId }, logOptions));
  const log = createLogger({ service: 'connection-node', node: config.nodeId, incarnation: link.incarnation }, logOptions);
  if (tls) logCertificate(log, 'tls certificate loaded', tls, config);
  const bus = new BusHealth(nc, log);
  link.start();
  const throttle = new AuthThrottle({ maxFailures: config.authMaxFailures, windowMs: config.authFailureWindowMs, lockoutMs: config.authLockoutMs });
  const streams = new StreamSet();
  const credentials = new DirectCredentials(stores.accounts, (subject, data) => link.requestRaw(subject, data), log, { direct: await stores.accounts.directReads() });
  const deps = { config, accounts: stores.accounts, credentials, link, log, throttle, streams, metrics, resumptions: new Map<string, ClientStream>() };
  metrics.observe({ sessions: () => link.sessions.size, streams: () => streams.size });

  const listener = new TcpListener(deps, { ...(tls && config.startTls ? { tls } : {}) });
  const port = await listener.listen(config.c2sHost, config.c2sPort);
  const directTls = tls && config.c2sTlsPort > 0 ? new TcpListener(deps, { tls, directTls: true }) : undefined;
  const tlsPort = directTls ? await directTls.listen(config.c2sHost, config.c2sTlsPort) : undefined;
  const webSocket = config.wsPort > 0 ? new WebSocketListener(deps, { path: config.wsPath, ...(tls && config.wsTls ? { tls } : {}) }) : undefined;
  const wsPort = webSocket ? await webSocket.listen(config.c2sHost, config.wsPort) : undefined;
  let accepting = true;
  // Ready = can take clients now: listeners open, NATS connected, and a NATS round trip (what every heartbeat
  // needs to be confirmed) answering within a heartbeat interval.
  telemetry.setReadiness(async () => ({ accepting, nats: bus.connected, heartbeat: bus.connected && (await roundTrip(nc, config.timings.heartbeatIntervalMs)) }));
  log.info('ready', {
    host: config.c2sHost,
    port,
    starttls: tls && config.startTls ? (config.tlsRequired ? 'required' : 'offered') : 'off',
    tlsPort,
    wsUrl: webSocket ? `${config.wsTls ? 'wss' : 'ws'}://${config.c2sHost}:${wsPort}${config.wsPath}` : undefined,
    wsPort,
    domain: config.domain,
    nats: nc.getServer(),
    // The heap settings in effect (--optimize-for-size expected: docs/decisions.md, SERVICE_NODE_FLAGS).
    nodeFlags: process.execArgv,
    metricsPort: telemetry.httpPort ?? 'off',
  });

  // SIGHUP: re-read the certificate and key (renewal without a restart). Without TLS it is only logged,
  // never the default action (which would end the process and every session on it).
  process.on('SIGHUP', () => {
    if (!tls) return log.info('SIGHUP: no TLS certificate configured, nothing to reload');
    try {
      tls.reload();
      webSocket?.tlsReloaded();
      logCertificate(log, 'tls certificate reloaded', tls, config);
    } catch (e) {
      log.error('tls certificate reload failed; keeping the previous one', { err: e });
    }
  });

  // One sweep for every stream of the node (no timer per session): idle pings and their timeouts, the
  // authentication timeout, XEP-0198 ack timeouts, and the presence grace and resumption window of hibernating managed streams.
  const shortest = Math.min(config.clientIdlePingMs, config.clientPingTimeoutMs, config.authTimeoutMs, config.smPresenceGraceMs || Infinity, config.smAckTimeoutMs || Infinity);
  const sweepMs = Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
  const sweep = setInterval(() => streams.sweep(performance.now(), config.clientIdlePingMs, config.clientPingTimeoutMs), sweepMs);
  sweep.unref();

  // DESIGN.md "Self-fencing": every stream ends now, announced as lost with the node; listeners keep accepting.
  link.onFence((reason) => {
    metrics.fenced();
    streams.endAll('system-shutdown', `node lost contact with the cluster (${reason})`, cluster.EndCause.END_CAUSE_NODE_LOST);
  });

  stopOnSignals(log, nc, async () => {
    clearInterval(sweep);
    // Out of the load balancer first: new clients go to other nodes while these streams end.
    accepting = false;
    log.info('closing client streams', { sessions: link.sessions.size });
    streams.endAll('system-shutdown', 'server is shutting down', cluster.EndCause.END_CAUSE_GRACEFUL);
    await Promise.all([listener.close(), directTls?.close(), webSocket?.close()]);
    link.stop();
    metrics.stop();
    bus.stop();
    await telemetry.stop();
  });
}

/** Nodes never create buckets (authorities do, replicated as configured): wait until they exist. */
async function openBuckets(nc: NatsConnection, config: NodeConfig): Promise<Stores> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openStores(nc, { create: false });
    } catch (e) {
      if (!(e instanceof MissingBucketError)) throw e;
      if (attempt === 1 || attempt % 20 === 0) bootLog.warn('waiting for the KV buckets', { bucket: e.bucket, node: config.nodeId });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** True when the NATS server answers a flush within `timeoutMs`. */
async function roundTrip(nc: { flush(): Promise<void> }, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([nc.flush().then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

function logCertificate(log: Logger, msg: string, tls: TlsCredentials, config: NodeConfig): void {
  const cert = tls.summary;
  log.info(msg, { fingerprint256: cert.fingerprint256, subject: cert.subject, validTo: cert.validTo, minVersion: config.tls?.minVersion });
  if (!cert.matchesDomain) log.warn('tls certificate does not name the XMPP domain; clients will refuse it', { domain: config.domain, subject: cert.subject });
  if (cert.expired) log.warn('tls certificate has expired', { validTo: cert.validTo });
}

main().catch((e: unknown) => {
  bootLog.error('failed to start', { err: e });
  process.exit(1);
});
