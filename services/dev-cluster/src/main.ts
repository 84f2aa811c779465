import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader } from '@vigil/config';
import { readConsoleConfig, startConsole, type DemoControl } from '@vigil/console';
import { createLogger } from '@vigil/telemetry';
import { Cluster, OpensslNotFoundError, createSelfSignedCert } from '@vigil/testkit';

/**
 * `npm start`: the embedded local cluster (DESIGN.md "What done looks like").
 * One nats-server with JetStream (data under .vigil/ in the project), one
 * presence authority, two connection nodes, demo accounts.
 */
const DEMO_USERS = [
  { username: 'alice', password: 'alice-pass' },
  { username: 'bob', password: 'bob-pass' },
  { username: 'carol', password: 'carol-pass' },
] as const;

interface DevCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly fingerprint256: string;
  readonly created: boolean;
}

/**
 * The dev cluster's self-signed certificate for `domain` under `dir`, made
 * with openssl at first start (or when it no longer fits the domain or has
 * expired). Undefined, with a warning, when openssl is missing.
 */
async function devCertificate(dir: string, domain: string): Promise<DevCertificate | undefined> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = new X509Certificate(readFileSync(certFile));
    if (cert.checkHost(domain) !== undefined && Date.parse(cert.validTo) > Date.now() + 86_400_000) {
      return { certFile, keyFile, fingerprint256: cert.fingerprint256, created: false };
    }
  }
  try {
    const made = await createSelfSignedCert({ domain, dir, days: 365 });
    return { certFile, keyFile, fingerprint256: made.fingerprint256, created: true };
  } catch (e) {
    if (!(e instanceof OpensslNotFoundError)) throw e;
    console.warn(`WARNING: ${e.message}.\nStarting WITHOUT TLS: no STARTTLS, no direct TLS; clients must allow plaintext.`);
    return undefined;
  }
}

/** A node killed from the demo panel comes back as a new incarnation this long after: past its 3-second lease, so its users' contacts see node-lost first. */
const DEMO_RESTART_MS = 5000;

/**
 * The web console's demo panel (dev cluster only): the demo users log in from
 * the page over WebSocket, one per node in turn, and the console may ask this
 * process to SIGKILL a connection node, which it restarts a little later.
 * This in-process callback is the whole mechanism: nothing in the console's
 * own configuration can turn it on.
 */
function demoControl(cluster: Cluster, domain: string, log: (line: string) => void): { control: DemoControl; stop: () => void } {
  const nodes = cluster.nodes.flatMap((n) => (n.wsUrl === undefined ? [] : [{ nodeId: n.nodeId, wsUrl: n.wsUrl }]));
  const restarting = new Map<string, NodeJS.Timeout>();
  const control: DemoControl = {
    view: { domain, users: DEMO_USERS.map((u, i) => ({ ...u, wsUrl: nodes[i % nodes.length]?.wsUrl ?? '' })), nodes },
    async killNode(nodeId) {
      const i = cluster.nodes.findIndex((n) => n.nodeId === nodeId);
      if (i < 0) return `no node ${nodeId}`;
      if (restarting.has(nodeId)) return `${nodeId} is already down; it comes back shortly`;
      const n = cluster.node(i);
      n.service.signal('SIGKILL');
      await n.service.exited;
      log(`demo panel: ${nodeId} killed with SIGKILL; a new incarnation starts in ${DEMO_RESTART_MS / 1000} s`);
      restarting.set(
        nodeId,
        setTimeout(() => {
          cluster.restartNode(i).then(
            () => {
              restarting.delete(nodeId);
              log(`demo panel: ${nodeId} is back as a new incarnation`);
            },
            (e: unknown) => {
              restarting.delete(nodeId);
              log(`demo panel: ${nodeId} failed to restart: ${e instanceof Error ? e.message : String(e)}`);
            },
          );
        }, DEMO_RESTART_MS),
      );
      return `${nodeId} was killed with SIGKILL; it comes back as a new incarnation in ${DEMO_RESTART_MS / 1000} s`;
    },
  };
  return { control, stop: () => restarting.forEach((t) => clearTimeout(t)) };
}

/** A path relative to the working directory when it lies inside it. */
function shortPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') ? file : rel;
}

async function main(): Promise<void> {
  const env = new EnvReader(process.env);
  const domain = env.string('VIGIL_DOMAIN', 'localhost', 'XMPP domain of the dev cluster');
  const host = env.string('VIGIL_C2S_HOST', '127.0.0.1', 'address the connection nodes listen on');
  const ports = [
    env.int('VIGIL_DEV_NODE1_PORT', 5222, 'client port of connection node 1', { min: 1, max: 65535 }),
    env.int('VIGIL_DEV_NODE2_PORT', 5223, 'client port of connection node 2', { min: 1, max: 65535 }),
  ];
  const grpcPort = env.int('VIGIL_DEV_GRPC_PORT', 50051, 'gRPC API port of the dev authority (127.0.0.1)', { min: 1, max: 65535 });
  const startTls = env.bool('VIGIL_DEV_STARTTLS', false, 'offer STARTTLS on the plain client ports of the dev cluster');
  const natsPort = env.int('VIGIL_DEV_NATS_PORT', 4222, 'port of the embedded nats-server', { min: 1, max: 65535 });
  // 3 runs a NATS cluster (routes on loopback, buckets replicated 3 ways) on free ports, for trying failures by hand.
  const natsServers = env.int('VIGIL_DEV_NATS_SERVERS', 1, 'NATS servers of the dev cluster (1 or 3)', { min: 1, max: 5 });
  const dataDir = env.string('VIGIL_DEV_DATA_DIR', fileURLToPath(new URL('../../../.vigil/nats', import.meta.url)), 'JetStream store of the dev cluster');
  const tlsPorts = [
    env.int('VIGIL_DEV_NODE1_TLS_PORT', 5322, 'direct TLS (XEP-0368) port of connection node 1', { min: 1, max: 65535 }),
    env.int('VIGIL_DEV_NODE2_TLS_PORT', 5323, 'direct TLS (XEP-0368) port of connection node 2', { min: 1, max: 65535 }),
  ];
  const wsPorts = [
    env.int('VIGIL_DEV_NODE1_WS_PORT', 5280, 'XMPP over WebSocket port of connection node 1', { min: 1, max: 65535 }),
    env.int('VIGIL_DEV_NODE2_WS_PORT', 5281, 'XMPP over WebSocket port of connection node 2', { min: 1, max: 65535 }),
  ];
  const wsPath = env.string('VIGIL_WS_PATH', '/xmpp-websocket', 'HTTP path of the WebSocket endpoints');
  const tlsDir = env.string('VIGIL_DEV_TLS_DIR', fileURLToPath(new URL('../../../.vigil/tls', import.meta.url)), 'self-signed certificate of the dev cluster');
  const echo = env.bool('VIGIL_DEV_ECHO_LOGS', true, 'print every service log line');
  const consolePort = env.int('VIGIL_DEV_CONSOLE_PORT', 8080, 'web console port of the dev cluster (127.0.0.1; 0: off)', { min: 0, max: 65535 });
  const demoPanel = env.bool('VIGIL_DEV_DEMO', true, 'the web console\'s demo panel (log in demo users from the page, kill connections and nodes)');
  // /metrics, /livez and /readyz of node-1, node-2 and the authority on this port and the next two; 0: off.
  const metricsPort = env.int('VIGIL_DEV_METRICS_PORT', 9464, 'first of three metrics ports (node-1, node-2, authority); 0: off', { min: 0, max: 65533 });
  mkdirSync(dataDir, { recursive: true });
  const cert = await devCertificate(tlsDir, domain);

  console.log(
    natsServers > 1
      ? `Starting Vigil: a ${natsServers}-server NATS cluster on free ports, one presence authority, two connection nodes…`
      : `Starting Vigil: nats-server on 127.0.0.1:${natsPort} (data in ${dataDir}), one presence authority, two connection nodes…`,
  );
  const cluster = await Cluster.start({
    domain,
    nodePorts: ports,
    c2sHost: host,
    ...(natsServers > 1 ? { natsServers, readyTimeoutMs: 60_000 } : { natsPort, natsStoreDir: dataDir }),
    echo,
    scramIterations: 10_000,
    detached: true,
    // The gRPC API with fresh tokens each start, printed below.
    grpc: { host: '127.0.0.1', ports: [grpcPort] },
    // Loopback development: TLS on the direct-TLS ports; on 5222/5223 STARTTLS only when asked for
    // (VIGIL_DEV_STARTTLS), because client libraries that see it offered upgrade and then refuse the
    // self-signed certificate. PLAIN stays allowed without TLS on loopback.
    ...(cert ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile, required: false }, directTls: tlsPorts } : {}),
    webSocket: { ports: wsPorts, path: wsPath },
    ...(metricsPort > 0 ? { metrics: [metricsPort, metricsPort + 1, metricsPort + 2] } : {}),
    env: {
      VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true',
      VIGIL_ALLOW_REGISTRATION: 'true',
      VIGIL_STARTTLS: String(startTls),
      VIGIL_LOG_LEVEL: process.env.VIGIL_LOG_LEVEL ?? 'info',
      // Development tools (grpcurl, grpcui, Postman) discover the API; production leaves it off.
      VIGIL_GRPC_REFLECTION: 'true',
    },
  });
  await cluster.provision(
    DEMO_USERS,
    [
      { owner: 'alice', contact: 'bob', subscription: 'both', name: 'Bob' },
      { owner: 'bob', contact: 'alice', subscription: 'both', name: 'Alice' },
    ],
  );

  const grpcAddress = cluster.grpc?.address(0) ?? '';
  const demo = demoPanel ? demoControl(cluster, domain, (line) => console.log(line)) : undefined;
  const webConsole =
    consolePort === 0
      ? undefined
      : await startConsole(
          readConsoleConfig({ ...process.env, VIGIL_CONSOLE_HOST: '127.0.0.1', VIGIL_CONSOLE_PORT: String(consolePort), VIGIL_CONSOLE_GRPC_SERVER: grpcAddress, VIGIL_DOMAIN: domain }),
          createLogger({ service: 'console' }, { write: (line) => void (echo && process.stdout.write(`[console] ${line}`)) }),
          demo ? { demo: demo.control } : {},
        );

  console.log(
    [
      '',
      'Vigil is running.',
      `  XMPP over TCP: ${host}:${ports[0]} (node-1) and ${host}:${ports[1]} (node-2), domain ${domain}` +
        (cert && startTls ? ', STARTTLS offered (not required)' : ', plaintext (STARTTLS off: VIGIL_DEV_STARTTLS=true offers it)'),
      ...(cert
        ? [
            `  Direct TLS (XEP-0368): ${host}:${tlsPorts[0]} (node-1) and ${host}:${tlsPorts[1]} (node-2)`,
            `  TLS certificate: ${shortPath(cert.certFile)} (self-signed for ${domain}${cert.created ? ', new' : ''})`,
            `    SHA-256 fingerprint ${cert.fingerprint256}`,
          ]
        : []),
      `  XMPP over WebSocket (RFC 7395): ${cluster.nodes.map((n) => `${n.wsUrl ?? ''} (${n.nodeId})`).join(' and ')}`,
      `  NATS: ${cluster.natsUrl}`,
      `  Metrics and probes (/metrics, /livez, /readyz): ${metricsPort > 0 ? [...cluster.nodes.map((n) => n.metricsUrl), ...cluster.authorityMetricsUrls].join(', ') : 'off (VIGIL_DEV_METRICS_PORT=0)'}`,
      `  gRPC API: ${cluster.grpc?.address(0) ?? 'off'}`,
      `    admin token:     ${cluster.grpc?.adminToken ?? ''}`,
      `    read-only token: ${cluster.grpc?.readToken ?? ''}`,
      '    (send "authorization: Bearer <token>" metadata; server reflection is on, e.g. grpcurl -plaintext ... list)',
      webConsole
        ? `  Web console: ${webConsole.url}/  (log in with the admin or the read-only token above${demo ? '; demo panel on' : ''})`
        : '  Web console: off (VIGIL_DEV_CONSOLE_PORT=0)',
      '  Demo accounts (alice and bob are mutual contacts; carol is nobody\'s contact):',
      ...DEMO_USERS.map((u) => `    ${u.username}@${domain}  password: ${u.password}`),
      '',
      `  Connect any XMPP client as alice@${domain} to ${host}:${ports[0]} and bob@${domain} to ${host}:${ports[1]}`,
      cert
        ? '  (the certificate is self-signed: accept or pin its fingerprint in the client; plaintext is allowed on loopback too).'
        : '  (no TLS: allow plaintext/insecure connections in the client).',
      '  Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Vigil…`);
    demo?.stop();
    await webConsole?.close();
    await cluster.stop();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // If the launcher itself dies, take the cluster with it rather than leave orphans.
  process.on('exit', () => {
    for (const p of [cluster.nats?.process, cluster.authority.process, ...cluster.nodes.map((n) => n.service.process)]) {
      if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });
}

main().catch((e: unknown) => {
  console.error(`vigil dev cluster failed to start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
