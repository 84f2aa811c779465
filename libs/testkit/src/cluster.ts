import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStores, provisionUsers, type Contact } from '@vigil/store';
import { ChildService } from './child.js';
import { freePort } from './ports.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const SERVICE_MAIN = {
  authority: fileURLToPath(new URL('../../../services/presence-authority/dist/main.js', import.meta.url)),
  node: fileURLToPath(new URL('../../../services/connection-node/dist/main.js', import.meta.url)),
} as const;

export interface ClusterOptions {
  readonly domain?: string;
  /** Number of connection nodes (default 2). */
  readonly nodes?: number;
  /** Number of presence-authority replicas sharing the shards (default 1). */
  readonly authorities?: number;
  /** Fixed client ports, one per node; free ports when absent. */
  readonly nodePorts?: readonly number[];
  readonly c2sHost?: string;
  /** Use this NATS server instead of starting one. */
  readonly natsUrl?: string;
  readonly natsPort?: number;
  readonly natsStoreDir?: string;
  /** Extra environment for every service (timings, log level, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** Print every service's log lines. */
  readonly echo?: boolean;
  readonly readyTimeoutMs?: number;
  /** Children in their own process groups (see ChildService.spawn); for `npm start`. */
  readonly detached?: boolean;
  /** PBKDF2 iterations for provisioned accounts (RFC 5802 minimum 4096 keeps tests quick). */
  readonly scramIterations?: number;
}

export interface NodeHandle {
  readonly nodeId: string;
  readonly port: number;
  service: ChildService;
}

/** A real local cluster: nats-server with JetStream, one authority, N connection nodes, all child processes. */
export class Cluster {
  readonly nodes: NodeHandle[] = [];
  /** Authority replicas, `authority-1` … `authority-N`; `authority` is the first. */
  readonly authorities: ChildService[] = [];
  #nc: NatsConnection | undefined;

  private constructor(
    readonly domain: string,
    readonly natsUrl: string,
    readonly nats: NatsServer | undefined,
    private readonly options: ClusterOptions,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const nats = options.natsUrl
      ? undefined
      : await startNatsServer({
          ...(options.natsPort !== undefined ? { port: options.natsPort } : {}),
          ...(options.natsStoreDir !== undefined ? { storeDir: options.natsStoreDir } : {}),
          detached: options.detached ?? false,
        });
    const cluster = new Cluster(options.domain ?? 'localhost', options.natsUrl ?? nats?.url ?? '', nats, options);
    try {
      // Buckets first, so services start against a ready store.
      await openStores(await cluster.connection());
      for (let i = 0; i < (options.authorities ?? 1); i++) cluster.authorities.push(cluster.#spawnAuthority(i));
      const count = options.nodes ?? 2;
      for (let i = 0; i < count; i++) {
        const port = options.nodePorts?.[i] ?? (await freePort());
        const nodeId = `node-${i + 1}`;
        cluster.nodes.push({ nodeId, port, service: cluster.#spawnNode(nodeId, port) });
      }
      await Promise.all([...cluster.authorities, ...cluster.nodes.map((n) => n.service)].map((s) => cluster.#ready(s)));
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** A NATS connection owned by the cluster handle (closed by stop()). */
  async connection(): Promise<NatsConnection> {
    this.#nc ??= await connect({ servers: this.natsUrl, name: 'vigil-testkit' });
    return this.#nc;
  }

  async provision(users: readonly { username: string; password: string }[], contacts: readonly Contact[] = []): Promise<void> {
    await provisionUsers(await openStores(await this.connection()), this.domain, users, contacts, this.scramIterations);
  }

  node(i: number): NodeHandle {
    const n = this.nodes[i];
    if (!n) throw new RangeError(`no connection node ${i}`);
    return n;
  }

  /** Starts a fresh process (new incarnation) for node i, on the same port. */
  async restartNode(i: number): Promise<NodeHandle> {
    const n = this.node(i);
    await n.service.stop();
    n.service = this.#spawnNode(n.nodeId, n.port);
    await this.#ready(n.service);
    return n;
  }

  get authority(): ChildService {
    const a = this.authorities[0];
    if (!a) throw new RangeError('no authority');
    return a;
  }

  /** Starts a fresh process for authority replica i (same id). */
  async restartAuthority(i: number): Promise<ChildService> {
    await this.authorities[i]?.stop();
    const a = this.#spawnAuthority(i);
    this.authorities[i] = a;
    await this.#ready(a);
    return a;
  }

  /** Nodes first (their sessions end and are announced), then the authorities, then NATS. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.service.stop()));
    await Promise.all(this.authorities.map((a) => a.stop()));
    await this.#nc?.close();
    this.#nc = undefined;
    await this.nats?.stop();
  }

  get scramIterations(): number {
    return this.options.scramIterations ?? 4096;
  }

  #spawnAuthority(i: number): ChildService {
    return this.#spawn(`authority-${i + 1}`, SERVICE_MAIN.authority, { VIGIL_AUTHORITY_ID: `authority-${i + 1}` });
  }

  #spawnNode(nodeId: string, port: number): ChildService {
    return this.#spawn(nodeId, SERVICE_MAIN.node, {
      VIGIL_NODE_ID: nodeId,
      VIGIL_C2S_PORT: String(port),
      VIGIL_C2S_HOST: this.options.c2sHost ?? '127.0.0.1',
    });
  }

  #spawn(name: string, main: string, env: Record<string, string>): ChildService {
    return ChildService.spawn(
      name,
      process.execPath,
      ['--enable-source-maps', main],
      {
        PATH: process.env.PATH,
        VIGIL_NATS_URL: this.natsUrl,
        VIGIL_DOMAIN: this.domain,
        VIGIL_SCRAM_ITERATIONS: String(this.scramIterations),
        ...this.options.env,
        ...env,
      },
      this.options.echo ?? false,
      this.options.detached ?? false,
    );
  }

  #ready(s: ChildService): Promise<unknown> {
    return s.waitForLog((r) => r.msg === 'ready', this.options.readyTimeoutMs ?? 20_000, 'ready');
  }
}
