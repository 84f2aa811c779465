import { ConfigError, EnvReader, readClusterTimings, type ClusterTimings, type Env } from '@vigil/config';
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
  readonly timings: ClusterTimings;
  readonly logLevel: LogLevel;
}

export function readAuthorityConfig(envVars: Env, env: EnvReader = new EnvReader(envVars)): AuthorityConfig {
  const logLevel = env.string('VIGIL_LOG_LEVEL', 'info', 'debug, info, warn or error');
  if (!isLogLevel(logLevel)) throw new ConfigError('VIGIL_LOG_LEVEL', `unknown level ${JSON.stringify(logLevel)}`);
  return {
    authorityId: env.string('VIGIL_AUTHORITY_ID', `authority-${process.pid}`, 'name of this authority replica'),
    natsUrl: env.list('VIGIL_NATS_URL', ['nats://127.0.0.1:4222'], 'NATS servers, comma-separated'),
    subjectPrefix: env.string('VIGIL_SUBJECT_PREFIX', 'vigil', 'prefix of every NATS subject'),
    domain: env.string('VIGIL_DOMAIN', 'localhost', 'the XMPP domain served').toLowerCase(),
    shardCount: env.int('VIGIL_SHARD_COUNT', 256, 'number of user shards; identical on every process', { min: 1, max: 65536 }),
    rosterCacheSize: env.int('VIGIL_ROSTER_CACHE_SIZE', 100_000, 'rosters kept in memory (LRU)', { min: 16 }),
    maxRosterItems: env.int('VIGIL_MAX_ROSTER_ITEMS', 1000, 'roster size limit; adding beyond it is a policy-violation', { min: 1 }),
    kvReplicas: env.int('VIGIL_KV_REPLICAS', 1, 'replicas of the durable KV buckets', { min: 1, max: 5 }),
    expiryBatchSize: env.int('VIGIL_EXPIRY_BATCH_SIZE', 200, 'sessions expired per event-loop turn', { min: 1 }),
    timings: readClusterTimings(env),
    logLevel,
  };
}

/** Every variable readAuthorityConfig reads, with its default and meaning (docs/configuration.md lists them). */
export function describeAuthorityConfig(): { name: string; default: string; description: string }[] {
  const env = new EnvReader({});
  readAuthorityConfig({}, env);
  return env.documented;
}
