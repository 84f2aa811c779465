import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, EnvReader, readClusterTimings, type ClusterTimings, type Env } from '@vigil/config';
import { isValidNodeId } from '@vigil/cluster';
import { isLogLevel, type LogLevel } from '@vigil/telemetry';

/** Everything a connection node reads at start; see docs/configuration.md for the table. */
export interface NodeConfig {
  readonly nodeId: string;
  readonly natsUrl: string[];
  readonly subjectPrefix: string;
  readonly domain: string;
  readonly shardCount: number;
  readonly c2sHost: string;
  readonly c2sPort: number;
  /** SASL PLAIN on a stream without TLS: only for loopback development (no TLS yet in this build). */
  readonly allowPlainWithoutTls: boolean;
  /** XEP-0077 in-band registration: anyone who can connect may create an account. */
  readonly allowRegistration: boolean;
  /** PBKDF2 iterations of stored credentials; decoy salts for unknown users use the same. */
  readonly scramIterations: number;
  readonly maxStanzaBytes: number;
  readonly preAuthMaxStanzaBytes: number;
  readonly maxDepth: number;
  /** Stanzas read but not yet processed, per stream; beyond it the stream is closed with policy-violation. */
  readonly maxPendingStanzas: number;
  readonly authTimeoutMs: number;
  readonly maxConnections: number;
  readonly rosterRequestTimeoutMs: number;
  readonly timings: ClusterTimings;
  readonly logLevel: LogLevel;
}

export function readNodeConfig(envVars: Env, env: EnvReader = new EnvReader(envVars)): NodeConfig {
  const nodeId = env.string('VIGIL_NODE_ID', `${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${randomBytes(3).toString('hex')}`, 'stable name of this connection node');
  if (!isValidNodeId(nodeId)) throw new ConfigError('VIGIL_NODE_ID', 'must be 1-64 characters of A-Z a-z 0-9 _ -');
  const logLevel = env.string('VIGIL_LOG_LEVEL', 'info', 'debug, info, warn or error');
  if (!isLogLevel(logLevel)) throw new ConfigError('VIGIL_LOG_LEVEL', `unknown level ${JSON.stringify(logLevel)}`);
  const domain = env.string('VIGIL_DOMAIN', 'localhost', 'the XMPP domain served').toLowerCase();
  return {
    nodeId,
    natsUrl: env.list('VIGIL_NATS_URL', ['nats://127.0.0.1:4222'], 'NATS servers, comma-separated'),
    subjectPrefix: env.string('VIGIL_SUBJECT_PREFIX', 'vigil', 'prefix of every NATS subject'),
    domain,
    shardCount: env.int('VIGIL_SHARD_COUNT', 256, 'number of user shards; identical on every process', { min: 1, max: 65536 }),
    c2sHost: env.string('VIGIL_C2S_HOST', '127.0.0.1', 'address for client connections'),
    c2sPort: env.int('VIGIL_C2S_PORT', 5222, 'port for client connections (XMPP over TCP)', { min: 0, max: 65535 }),
    allowPlainWithoutTls: env.bool('VIGIL_ALLOW_PLAIN_WITHOUT_TLS', false, 'offer SASL PLAIN on unencrypted streams'),
    allowRegistration: env.bool('VIGIL_ALLOW_REGISTRATION', false, 'XEP-0077 in-band registration (account creation by anyone who can connect)'),
    scramIterations: env.int('VIGIL_SCRAM_ITERATIONS', 10_000, 'PBKDF2 iterations of SCRAM credentials created here and shown for unknown users', { min: 4096 }),
    maxStanzaBytes: env.int('VIGIL_MAX_STANZA_BYTES', 65536, 'largest stanza accepted after authentication', { min: 1024 }),
    preAuthMaxStanzaBytes: env.int('VIGIL_PREAUTH_MAX_STANZA_BYTES', 8192, 'largest stanza accepted before authentication', { min: 512 }),
    maxDepth: env.int('VIGIL_MAX_XML_DEPTH', 32, 'deepest element nesting inside a stanza', { min: 4, max: 1024 }),
    maxPendingStanzas: env.int('VIGIL_MAX_PENDING_STANZAS', 256, 'stanzas queued per stream before it is closed', { min: 8 }),
    authTimeoutMs: env.int('VIGIL_AUTH_TIMEOUT_MS', 30_000, 'time allowed from connect to bound resource', { min: 1000 }),
    maxConnections: env.int('VIGIL_MAX_CONNECTIONS', 100_000, 'client connections accepted at once', { min: 1 }),
    rosterRequestTimeoutMs: env.int('VIGIL_ROSTER_REQUEST_TIMEOUT_MS', 5000, 'wait for the authority to answer a roster request', { min: 100 }),
    timings: readClusterTimings(env),
    logLevel,
  };
}

/** Every variable readNodeConfig reads, with its default and meaning (docs/configuration.md lists them). */
export function describeNodeConfig(): { name: string; default: string; description: string }[] {
  const env = new EnvReader({});
  readNodeConfig({}, env);
  return env.documented;
}
