import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStores, provisionUsers, type Contact } from '@vigil/store';
import { ChildService } from './child.js';
import { freePort } from './ports.js';
import { GrpcAccess, type GrpcOptions } from './grpc-access.js';
import { startNatsCluster, startNatsServer, type NatsCluster, type NatsServer } from './nats-server.js';
import { NatsPartition } from './partition.js';
import { type FlaggedService, jemallocEnv, SERVICE_MALLOC_ENV, SERVICE_NODE_FLAGS } from './service-flags.js';
import { eventually } from './wait.js';

const SERVICE_MAIN = {
  'presence-authority': fileURLToPath(new URL('../../../services/presence-authority/dist/main.js', import.meta.url)),
  'connection-node': fileURLToPath(new URL('../../../services/connection-node/dist/main.js', import.meta.url)),
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
  /** Start a NATS cluster of this many servers (routes on loopback, buckets replicated on all). Default 1. */
  readonly natsServers?: number;
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
  /** The gRPC API on every authority, on free ports, with a test admin token and a read-only one (`cluster.grpc`). */
  readonly grpc?: boolean | GrpcOptions;
  /**
   * A certificate for every connection node: STARTTLS on the client port
   * (`required` sets VIGIL_TLS_REQUIRED; the node's default is true with a
   * certificate), and what `directTls` and wss need.
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly required?: boolean };
  /** XEP-0368 direct TLS on each node: on free ports, or these. Needs `tls`. */
  readonly directTls?: boolean | readonly number[];
  /** RFC 7395 XMPP over WebSocket on each node: on free ports, or these; wss when `tls` is set and `secure`. */
  readonly webSocket?: boolean | { readonly ports?: readonly number[]; readonly path?: string; readonly secure?: boolean };
  /** Nodes (by index) whose NATS connections go through a relay that can be cut like a partition (`cluster.partition(i)`). */
  readonly partitionable?: readonly number[];
  /**
   * /metrics, /livez and /readyz on every node and authority (VIGIL_METRICS_PORT): on free ports, or
   * these (nodes first, then authorities). Each handle's `metricsUrl` says where; restarts keep the port.
   */
  readonly metrics?: boolean | readonly number[];
  /**
   * Start every connection node with the V8 inspector on a free loopback port
   * (`--inspect=127.0.0.1:<port>`, NodeHandle.inspectPort), for tests that
   * force a garbage collection and read the live heap (testkit's Inspector).
   */
  readonly inspect?: boolean;
}

export interface NodeHandle {
  readonly nodeId: string;
  readonly port: number;
  /** XEP-0368 direct TLS port, when the cluster has `directTls`. */
  readonly tlsPort?: number;
  /** ws:// or wss:// URL of the node's RFC 7395 endpoint, when the cluster has `webSocket`. */
  readonly wsUrl?: string;
  /** http://host:port of the node's /metrics, /livez and /readyz, when the cluster has `metrics`. */
  readonly metricsUrl?: string;
  /** The node's V8 inspector port on 127.0.0.1, when the cluster has `inspect`. */
  readonly inspectPort?: number;
  service: ChildService;
}

/** A real local cluster: nats-server with JetStream, one authority, N connection nodes, all child processes. */
export class Cluster {
  readonly nodes: NodeHandle[] = [];
  /** Authority replicas, `authority-1` … `authority-N`; `authority` is the first. */
  readonly authorities: ChildService[] = [];
  #nc: NatsConnection | undefined;
  /** The authorities' gRPC API, when started with `grpc`. */
  grpc: GrpcAccess | undefined;
  /** Base URLs of the authorities' /metrics, /livez and /readyz (index = replica), when started with `metrics`. */
  readonly authorityMetricsUrls: string[] = [];
  /** Environment of each node beyond its id and client port (TLS, WebSocket), kept for restarts. */
  readonly #nodeEnv = new Map<string, Readonly<Record<string, string>>>();
  /** Extra node command-line arguments per node (the inspector), kept for restarts. */
  readonly #nodeArgs = new Map<string, readonly string[]>();
  readonly #partitions = new Map<number, NatsPartition>();

  private constructor(
    readonly domain: string,
    readonly natsUrl: string,
    readonly nats: NatsServer | undefined,
    private readonly options: ClusterOptions,
    /** Set when the cluster runs several NATS servers. */
    readonly natsCluster?: NatsCluster,
  ) {}

  /** KV replicas for the durable buckets: one per NATS server, up to 3. */
  get kvReplicas(): number {
    return Math.min(3, this.options.natsServers ?? 1);
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const natsCluster = !options.natsUrl && (options.natsServers ?? 1) > 1 ? await startNatsCluster(options.natsServers) : undefined;
    const nats = options.natsUrl || natsCluster
      ? natsCluster?.servers[0]
      : await startNatsServer({
          ...(options.natsPort !== undefined ? { port: options.natsPort } : {}),
          ...(options.natsStoreDir !== undefined ? { storeDir: options.natsStoreDir } : {}),
          detached: options.detached ?? false,
        });
    const url = options.natsUrl ?? natsCluster?.urls ?? nats?.url ?? '';
    const cluster = new Cluster(options.domain ?? 'localhost', url, natsCluster ? undefined : nats, options, natsCluster);
    try {
      // Buckets first, so services start against a ready store. A fresh NATS cluster elects its
      // JetStream meta leader in a few seconds; until then creating a replicated bucket times out.
      await eventually(async () => openStores(await cluster.connection(), { replicas: cluster.kvReplicas }), 30_000, 'creating the KV buckets');
      if (options.grpc) cluster.grpc = await GrpcAccess.allocate(options.grpc, options.authorities ?? 1);
      const nodeCount = options.nodes ?? 2;
      if (options.metrics) {
        for (let i = 0; i < (options.authorities ?? 1); i++) {
          cluster.authorityMetricsUrls.push(`http://127.0.0.1:${await cluster.#metricsPort(nodeCount + i)}`);
        }
      }
      for (let i = 0; i < (options.authorities ?? 1); i++) cluster.authorities.push(cluster.#spawnAuthority(i));
      for (let i = 0; i < nodeCount; i++) {
        const port = options.nodePorts?.[i] ?? (await freePort());
        const nodeId = `node-${i + 1}`;
        const extra = await cluster.#extraPorts(i);
        if (options.inspect) {
          const inspectPort = await freePort();
          cluster.#nodeArgs.set(nodeId, [`--inspect=127.0.0.1:${inspectPort}`]);
          extra.handle.inspectPort = inspectPort;
        }
        if (options.partitionable?.includes(i)) {
          const partition = await NatsPartition.start(cluster.natsUrl);
          cluster.#partitions.set(i, partition);
          extra.env.VIGIL_NATS_URL = partition.urls;
          // Only through the relay: servers the cluster announces would bypass the partition.
          extra.env.VIGIL_NATS_DISCOVERY = 'false';
        }
        cluster.nodes.push({ nodeId, port, ...extra.handle, service: cluster.#spawnNode(nodeId, port, extra.env) });
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
    this.#nc ??= await connect({ servers: this.natsUrl.split(','), name: 'vigil-testkit', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    return this.#nc;
  }

  async provision(users: readonly { username: string; password: string }[], contacts: readonly Contact[] = []): Promise<void> {
    await provisionUsers(await openStores(await this.connection(), { replicas: this.kvReplicas }), this.domain, users, contacts, this.scramIterations);
  }

  /** The relay between node i and NATS, when the cluster was started with `partitionable` naming it. */
  partition(i: number): NatsPartition {
    const p = this.#partitions.get(i);
    if (!p) throw new RangeError(`node ${i} was not started partitionable`);
    return p;
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
    n.service = this.#spawnNode(n.nodeId, n.port, this.#nodeEnv.get(n.nodeId));
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
    await Promise.all([...this.#partitions.values()].map((p) => p.close()));
    await this.nats?.stop();
    await this.natsCluster?.stop();
  }

  get scramIterations(): number {
    return this.options.scramIterations ?? 4096;
  }

  #spawnAuthority(i: number): ChildService {
    const metricsUrl = this.authorityMetricsUrls[i];
    const metrics: Record<string, string> = metricsUrl ? { VIGIL_METRICS_PORT: new URL(metricsUrl).port, VIGIL_METRICS_HOST: '127.0.0.1' } : {};
    return this.#spawn(`authority-${i + 1}`, 'presence-authority', { VIGIL_AUTHORITY_ID: `authority-${i + 1}`, ...this.grpc?.env(i), ...metrics });
  }

  /** The metrics port of process `i` (nodes first, then authorities): the caller's, or a free one. */
  async #metricsPort(i: number): Promise<number> {
    const fixed = Array.isArray(this.options.metrics) ? this.options.metrics[i] : undefined;
    return fixed ?? (await freePort());
  }

  #spawnNode(nodeId: string, port: number, extraEnv: Readonly<Record<string, string>> = {}): ChildService {
    this.#nodeEnv.set(nodeId, extraEnv);
    return this.#spawn(nodeId, 'connection-node', {
      VIGIL_NODE_ID: nodeId,
      VIGIL_C2S_PORT: String(port),
      VIGIL_C2S_HOST: this.options.c2sHost ?? '127.0.0.1',
      ...extraEnv,
    }, this.#nodeArgs.get(nodeId) ?? []);
  }

  /** TLS and WebSocket settings of node i: its environment and what its handle shows. */
  async #extraPorts(i: number): Promise<{ env: Record<string, string>; handle: { tlsPort?: number; wsUrl?: string; metricsUrl?: string; inspectPort?: number } }> {
    const { tls, directTls, webSocket, metrics } = this.options;
    const env: Record<string, string> = {};
    const handle: { tlsPort?: number; wsUrl?: string; metricsUrl?: string; inspectPort?: number } = {};
    if (metrics) {
      const port = await this.#metricsPort(i);
      env.VIGIL_METRICS_PORT = String(port);
      env.VIGIL_METRICS_HOST = '127.0.0.1';
      handle.metricsUrl = `http://127.0.0.1:${port}`;
    }
    if (tls) {
      env.VIGIL_TLS_CERT_FILE = tls.certFile;
      env.VIGIL_TLS_KEY_FILE = tls.keyFile;
      if (tls.required !== undefined) env.VIGIL_TLS_REQUIRED = String(tls.required);
    }
    if (directTls) {
      const tlsPort = (Array.isArray(directTls) ? directTls[i] : undefined) ?? (await freePort());
      env.VIGIL_C2S_TLS_PORT = String(tlsPort);
      handle.tlsPort = tlsPort;
    }
    if (webSocket) {
      const ws = webSocket === true ? {} : webSocket;
      const wsPort = ws.ports?.[i] ?? (await freePort());
      const path = ws.path ?? '/xmpp-websocket';
      const secure = tls !== undefined && ws.secure === true;
      env.VIGIL_WS_PORT = String(wsPort);
      env.VIGIL_WS_PATH = path;
      env.VIGIL_WS_TLS = String(secure);
      handle.wsUrl = `${secure ? 'wss' : 'ws'}://${this.options.c2sHost ?? '127.0.0.1'}:${wsPort}${path}`;
    }
    return { env, handle };
  }

  #spawn(name: string, service: FlaggedService, env: Record<string, string>, nodeArgs: readonly string[] = []): ChildService {
    return ChildService.spawn(
      name,
      process.execPath,
      // The production flags first: VIGIL_CHILD_NODE_ARGS (experiments) and per-node arguments come later and win
      // (VIGIL_CHILD_NODE_ARGS="--max-semi-space-size=0 --heap-growing-percent=0 --no-expose-gc" measures with V8's defaults;
      // --no-expose-gc turns the authority's idle collector off).
      ['--enable-source-maps', ...SERVICE_NODE_FLAGS[service], ...(process.env.VIGIL_CHILD_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? []), ...nodeArgs, SERVICE_MAIN[service]],
      {
        PATH: process.env.PATH,
        ...SERVICE_MALLOC_ENV,
        ...jemallocEnv(service),
        VIGIL_NATS_URL: this.natsUrl,
        VIGIL_KV_REPLICAS: String(this.kvReplicas),
        VIGIL_DOMAIN: this.domain,
        VIGIL_SCRAM_ITERATIONS: String(this.scramIterations),
        ...this.options.env,
        ...env,
        ...childEnvFromProcess(),
      },
      // VIGIL_CHILD_ECHO=1: every child's output on this process's stdout, for experiments (e.g. with --trace-gc).
      this.options.echo ?? process.env.VIGIL_CHILD_ECHO === '1',
      this.options.detached ?? false,
    );
  }

  #ready(s: ChildService): Promise<unknown> {
    return s.waitForLog((r) => r.msg === 'ready', this.options.readyTimeoutMs ?? 20_000, 'ready');
  }
}

/** `VIGIL_CHILD_ENV="K=V K=V"`: settings for every child, for experiments (like VIGIL_CHILD_NODE_ARGS). */
function childEnvFromProcess(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of process.env.VIGIL_CHILD_ENV?.split(' ') ?? []) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Roster rows making two users mutual contacts (subscription both), for provision(). */
export function mutualContacts(a: string, b: string): Contact[] {
  return [
    { owner: a, contact: b, subscription: 'both' },
    { owner: b, contact: a, subscription: 'both' },
  ];
}
