import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EnvReader } from '@vigil/config';
import { Cluster } from '@vigil/testkit';

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

async function main(): Promise<void> {
  const env = new EnvReader(process.env);
  const domain = env.string('VIGIL_DOMAIN', 'localhost', 'XMPP domain of the dev cluster');
  const host = env.string('VIGIL_C2S_HOST', '127.0.0.1', 'address the connection nodes listen on');
  const ports = [
    env.int('VIGIL_DEV_NODE1_PORT', 5222, 'client port of connection node 1', { min: 1, max: 65535 }),
    env.int('VIGIL_DEV_NODE2_PORT', 5223, 'client port of connection node 2', { min: 1, max: 65535 }),
  ];
  const natsPort = env.int('VIGIL_DEV_NATS_PORT', 4222, 'port of the embedded nats-server', { min: 1, max: 65535 });
  const dataDir = env.string('VIGIL_DEV_DATA_DIR', fileURLToPath(new URL('../../../.vigil/nats', import.meta.url)), 'JetStream store of the dev cluster');
  const echo = env.bool('VIGIL_DEV_ECHO_LOGS', true, 'print every service log line');
  mkdirSync(dataDir, { recursive: true });

  console.log(`Starting Vigil: nats-server on 127.0.0.1:${natsPort} (data in ${dataDir}), one presence authority, two connection nodes…`);
  const cluster = await Cluster.start({
    domain,
    nodePorts: ports,
    c2sHost: host,
    natsPort,
    natsStoreDir: dataDir,
    echo,
    scramIterations: 10_000,
    detached: true,
    // No TLS in this build yet: allow PLAIN on loopback so every stock client can log in.
    env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_ALLOW_REGISTRATION: 'true', VIGIL_LOG_LEVEL: process.env.VIGIL_LOG_LEVEL ?? 'info' },
  });
  await cluster.provision(
    DEMO_USERS,
    [
      { owner: 'alice', contact: 'bob', subscription: 'both', name: 'Bob' },
      { owner: 'bob', contact: 'alice', subscription: 'both', name: 'Alice' },
    ],
  );

  console.log(
    [
      '',
      'Vigil is running.',
      `  XMPP over TCP: ${host}:${ports[0]} (node-1) and ${host}:${ports[1]} (node-2), domain ${domain}`,
      `  NATS: ${cluster.natsUrl}`,
      '  Demo accounts (alice and bob are mutual contacts; carol is nobody\'s contact):',
      ...DEMO_USERS.map((u) => `    ${u.username}@${domain}  password: ${u.password}`),
      '',
      `  Connect any XMPP client as alice@${domain} to ${host}:${ports[0]} and bob@${domain} to ${host}:${ports[1]}`,
      '  (no TLS yet: allow plaintext/insecure connections in the client).',
      '  Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Vigil…`);
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
