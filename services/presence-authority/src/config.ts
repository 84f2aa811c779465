import { readFileSync } from 'node:fs';
import { ConfigError, EnvReader, readClusterTimings, readTelemetryConfig, type ClusterTimings, type Env, type TelemetryConfig } from '@vigil/config';
import { parseTokens, type ApiToken } from './grpc/tokens.js';
import { readGrpcTlsConfig, type GrpcTlsConfig } from './grpc/tls-config.js';
import { isLogLevel, type LogLevel } from '@vigil/telemetry';

/** Everything a presence authority reads at start; see docs/configuration.md for the table. */
export interface AuthorityConfig {
  readonly authorityId: string;
  readonly natsUrl: string[];
  readonly subjectPrefix: string;
  readonly domain: string;
  readonly shardCount: number;
  readonly rosterCacheSize: number;
  /** Items a roster may hold (RFC 6121 §2.3.3 policy-violation beyond it). */
  readonly maxRosterItems: number;
  /** KV replicas for the durable buckets: 1 with one NATS server, 3 in a production cluster. */
  readonly kvReplicas: number;
  /** Sessions ended per event-loop turn during a mass expiry, so heartbeats stay prompt. */
  readonly expiryBatchSize: number;
  /** Shard acquisitions and releases in flight at once during a rebalance. */
  readonly takeoverConcurrency: number;
  readonly timings: ClusterTimings;
  readonly logLevel: LogLevel;
  /** PBKDF2 iterations of accounts created or re-keyed through the gRPC API. */
  readonly scramIterations: number;
  readonly grpc: GrpcConfig;
  /** /metrics, /livez, /readyz and OTLP export (docs/operations.md). */
  readonly telemetry: TelemetryConfig;
}

/** The public gRPC API (docs/decisions.md "gRPC API"); off when `port` is 0. */
export interface GrpcConfig {
  readonly port: number;
  readonly host: string;
  readonly tokens: readonly ApiToken[];
  /** Longest a call waits for a shard owner when the client set no shorter deadline. */
  readonly requestTimeoutMs: number;
  /** Largest request or response message, either way. */
  readonly maxMessageBytes: number;
  /** Changes one WatchPresence stream may have waiting; beyond it the stream ends with RESOURCE_EXHAUSTED. */
  readonly watchBufferEvents: number;
  /** Concurrent WatchPresence streams; one more is refused with RESOURCE_EXHAUSTED. */
  readonly maxWatchStreams: number;
  /** Server pings an idle connection this often, and drops it when no answer comes within the timeout. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /** The retry delay suggested with UNAVAILABLE during a shard hand-over (derived: one heartbeat). */
  readonly retryAfterMs: number;
  /** Server reflection (grpc.reflection.v1 and v1alpha): on in the dev cluster, off unless asked for. */
  readonly reflection: boolean;
  /** TLS, and mutual TLS with a client CA; plaintext when absent. */
  readonly tls: GrpcTlsConfig | undefined;
  /** Worker threads hashing an import's plaintext passwords; 0: one per CPU. */
  readonly importHashThreads: number;
  /** Accounts one MigrationService.Import may carry; one more is INVALID_ARGUMENT. */
  readonly importMaxAccounts: number;
}

export function readAuthorityConfig(envVars: Env, env: EnvReader = new EnvReader(envVars)): AuthorityConfig {
  const logLevel = env.string('VIGIL_LOG_LEVEL', 'info', 'debug, info, warn or error');
  if (!isLogLevel(logLevel)) throw new ConfigError('VIGIL_LOG_LEVEL', `unknown level ${JSON.stringify(logLevel)}`);
  const timings = readClusterTimings(env);
  return {
    authorityId: readAuthorityId(env),
    natsUrl: env.list('VIGIL_NATS_URL', ['nats://127.0.0.1:4222'], 'NATS servers, comma-separated'),
    subjectPrefix: env.string('VIGIL_SUBJECT_PREFIX', 'vigil', 'prefix of every NATS subject'),
    domain: env.string('VIGIL_DOMAIN', 'localhost', 'the XMPP domain served').toLowerCase(),
    shardCount: env.int('VIGIL_SHARD_COUNT', 256, 'number of user shards; identical on every process', { min: 1, max: 65536 }),
    rosterCacheSize: env.int('VIGIL_ROSTER_CACHE_SIZE', 100_000, 'rosters kept in memory (LRU)', { min: 16 }),
    maxRosterItems: env.int('VIGIL_MAX_ROSTER_ITEMS', 1000, 'roster size limit; adding beyond it is a policy-violation', { min: 1 }),
    kvReplicas: env.int('VIGIL_KV_REPLICAS', 1, 'replicas of the durable KV buckets', { min: 1, max: 5 }),
    expiryBatchSize: env.int('VIGIL_EXPIRY_BATCH_SIZE', 200, 'sessions expired per event-loop turn', { min: 1 }),
    takeoverConcurrency: env.int('VIGIL_SHARD_TAKEOVER_CONCURRENCY', 16, 'shard takeovers and hand-overs run at once during a rebalance; more owns a dead replica\'s shards sooner', { min: 1, max: 256 }),
    timings,
    logLevel,
    scramIterations: env.int('VIGIL_SCRAM_ITERATIONS', 10_000, 'PBKDF2 iterations of SCRAM credentials created here and shown for unknown users', { min: 4096 }),
    grpc: readGrpcConfig(env, timings),
    telemetry: readTelemetryConfig(env),
  };
}

/**
 * The replica's id is one token of a NATS KV key (its liveness key `alive.<id>`) and of a subject (its heartbeats on
 * `<prefix>.authority.hb.<id>`): nats.js accepts key characters A-Z a-z 0-9 - _ / = and '.' between tokens (NATS
 * ADR-8), and a '.', '*', '>' or space in the id would split or widen the token. A Kubernetes pod name in a
 * Deployment (a DNS label) passes.
 */
const AUTHORITY_ID = /^[-/_=A-Za-z0-9]{1,253}$/;

function readAuthorityId(env: EnvReader): string {
  const id = env.string('VIGIL_AUTHORITY_ID', `authority-${process.pid}`, 'name of this authority replica, one NATS KV key token: letters, digits, -, _, /, = (at most 253)');
  if (!AUTHORITY_ID.test(id)) {
    throw new ConfigError('VIGIL_AUTHORITY_ID', `must be one NATS KV key token (letters, digits, '-', '_', '/', '='; at most 253 characters): it names the key alive.<id> and the subject of the replica's heartbeats; got ${JSON.stringify(id)}`);
  }
  return id;
}

function readGrpcConfig(env: EnvReader, timings: ClusterTimings): GrpcConfig {
  const port = env.int('VIGIL_GRPC_PORT', 0, 'gRPC API port on this authority replica; 0 turns the API off', { min: 0, max: 65535 });
  const inline = env.string('VIGIL_GRPC_TOKENS', '', 'gRPC bearer tokens, name:scope:token comma-separated; scope read or admin');
  const file = env.string('VIGIL_GRPC_TOKENS_FILE', '', 'file with more gRPC tokens (same format, one per line; e.g. a mounted secret)');
  let tokens = parseTokens(inline, 'VIGIL_GRPC_TOKENS');
  if (file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError('VIGIL_GRPC_TOKENS_FILE', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    tokens = [...tokens, ...parseTokens(text, 'VIGIL_GRPC_TOKENS_FILE')];
  }
  if (port > 0 && tokens.length === 0) throw new ConfigError('VIGIL_GRPC_TOKENS', 'the gRPC API is on (VIGIL_GRPC_PORT) but no token is configured');
  if (new Set(tokens.map((t) => t.name)).size !== tokens.length) throw new ConfigError('VIGIL_GRPC_TOKENS_FILE', 'a token name appears in both places');
  const keepaliveTimeMs = env.int('VIGIL_GRPC_KEEPALIVE_TIME_MS', 30_000, 'the gRPC server pings a connection after this much silence', { min: 1000 });
  const keepaliveTimeoutMs = env.int('VIGIL_GRPC_KEEPALIVE_TIMEOUT_MS', 10_000, 'and closes it when the ping is not answered within this', { min: 100 });
  if (keepaliveTimeoutMs >= keepaliveTimeMs) {
    throw new ConfigError('VIGIL_GRPC_KEEPALIVE_TIMEOUT_MS', `must be below VIGIL_GRPC_KEEPALIVE_TIME_MS (${keepaliveTimeMs}), got ${keepaliveTimeoutMs}`);
  }
  return {
    port,
    host: env.string('VIGIL_GRPC_HOST', '127.0.0.1', 'address the gRPC API listens on (0.0.0.0 for every interface)'),
    tokens,
    requestTimeoutMs: env.int('VIGIL_GRPC_REQUEST_TIMEOUT_MS', 5000, 'longest a gRPC call waits for the shard owner when its deadline is later', { min: 100 }),
    maxMessageBytes: env.int('VIGIL_GRPC_MAX_MESSAGE_BYTES', 4 * 1024 * 1024, 'largest gRPC request or response message', { min: 64 * 1024 }),
    watchBufferEvents: env.int('VIGIL_GRPC_WATCH_BUFFER', 1000, 'changes a WatchPresence stream may have waiting before it ends with RESOURCE_EXHAUSTED', { min: 1 }),
    maxWatchStreams: env.int('VIGIL_GRPC_MAX_WATCHES', 1000, 'concurrent WatchPresence streams per replica', { min: 1 }),
    keepaliveTimeMs,
    keepaliveTimeoutMs,
    retryAfterMs: timings.heartbeatIntervalMs,
    reflection: env.bool('VIGIL_GRPC_REFLECTION', false, 'serve gRPC server reflection (lists every service and message); for development tools such as grpcurl'),
    tls: readGrpcTlsConfig(env),
    importHashThreads: env.int('VIGIL_IMPORT_HASH_THREADS', 0, 'worker threads hashing the plaintext passwords of an import; 0 for one per CPU', { min: 0, max: 256 }),
    importMaxAccounts: env.int('VIGIL_IMPORT_MAX_ACCOUNTS', 200_000, 'accounts one import may carry (the replica holds them in memory while it validates)', { min: 1 }),
  };
}

/** Every variable readAuthorityConfig reads, with its default and meaning (docs/configuration.md lists them). */
export function describeAuthorityConfig(): { name: string; default: string; description: string }[] {
  const env = new EnvReader({});
  readAuthorityConfig({}, env);
  return env.documented;
}
