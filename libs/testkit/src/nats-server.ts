import { existsSync, mkdtempSync, rmSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { freePort } from './ports.js';
import { withDeadline } from './wait.js';

export class NatsServerNotFoundError extends Error {
  constructor() {
    super('nats-server not found: run `npm run ensure-nats` (installs Debian\'s nats-server) or set NATS_SERVER_BIN');
    this.name = 'NatsServerNotFoundError';
  }
}

/** NATS_SERVER_BIN, then PATH, then Debian's location (/usr/sbin is not on every PATH). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NATS_SERVER_BIN) return env.NATS_SERVER_BIN;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  throw new NatsServerNotFoundError();
}

export interface NatsServerOptions {
  /** 0 or absent: a free port. */
  readonly port?: number;
  /** JetStream store; a fresh temp dir (removed on stop) when absent. */
  readonly storeDir?: string;
  readonly host?: string;
  readonly startTimeoutMs?: number;
  /** Print the server's log lines. */
  readonly echo?: boolean;
  /** Own process group: a terminal Ctrl-C does not reach it; the launcher stops it last. */
  readonly detached?: boolean;
  /** Joins a NATS cluster: this server's route port and every peer's route URL. */
  readonly cluster?: { readonly name: string; readonly serverName: string; readonly routePort: number; readonly routes: readonly string[] };
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly process: ChildProcess;
  /** SIGKILL, for chaos; the store dir is kept so a restart finds its data. */
  kill(): void;
  /** Clean stop; removes the store dir if this launcher created it. */
  stop(): Promise<void>;
}

/** Starts a real nats-server with JetStream, resolving once it logs that it is ready. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  const host = options.host ?? '127.0.0.1';
  const port = options.port && options.port > 0 ? options.port : await freePort();
  const ownsDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'vigil-nats-'));
  const args = ['-a', host, '-p', String(port), '-js', '-sd', storeDir, '-n', options.cluster?.serverName ?? `vigil-${port}`];
  if (options.cluster) {
    args.push('--cluster_name', options.cluster.name, '--cluster', `nats://${host}:${options.cluster.routePort}`, '--routes', options.cluster.routes.join(','));
  }
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`nats-server exited with code ${code}: ${lines.slice(-5).join(' | ')}`)));
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (options.echo) process.stderr.write(`[nats] ${line}\n`);
        if (lines.length < 200) lines.push(line);
        if (line.includes('Server is ready')) resolve();
      });
    }
  });
  try {
    await withDeadline(ready, options.startTimeoutMs ?? 15_000, 'nats-server to be ready');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    url: `nats://${host}:${port}`,
    port,
    storeDir,
    process: child,
    kill: () => {
      if (running()) child.kill('SIGKILL');
    },
    stop: async () => {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (ownsDir && existsSync(storeDir)) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Every client URL, comma-separated, as VIGIL_NATS_URL takes them. */
  readonly urls: string;
  /** Restarts server i on the same ports and store (after kill()). */
  restart(i: number): Promise<NatsServer>;
  stop(): Promise<void>;
}

/**
 * A real NATS cluster with JetStream on loopback: `size` servers with routes
 * to each other, each with its own store dir. Resolves when every server is
 * ready; JetStream's meta leader may need a few more seconds (callers that
 * create replicated buckets retry).
 */
export async function startNatsCluster(size = 3, options: { readonly echo?: boolean } = {}): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const dirs = ports.map(() => mkdtempSync(join(tmpdir(), 'vigil-natsc-')));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
  const launch = (i: number) =>
    startNatsServer({
      port: ports[i] as number,
      storeDir: dirs[i] as string,
      ...(options.echo !== undefined ? { echo: options.echo } : {}),
      cluster: { name: 'vigil', serverName: `vigil-${i + 1}`, routePort: routePorts[i] as number, routes: routes.filter((_, j) => j !== i) },
    });
  const servers = await Promise.all(ports.map((_, i) => launch(i)));
  return {
    servers,
    urls: servers.map((s) => s.url).join(','),
    restart: async (i) => {
      await servers[i]?.stop();
      const s = await launch(i);
      servers[i] = s;
      return s;
    },
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
