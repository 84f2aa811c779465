import { ConfigError, EnvReader, type Env } from '@vigil/config';
import { isLogLevel, type LogLevel } from '@vigil/telemetry';

/** Everything the console reads at start; the table is in docs/configuration.md. */
export interface ConsoleConfig {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the gRPC API it reads and acts through. */
  readonly grpcServer: string;
  /** XMPP domain of the cluster: account names from ListAccounts become JIDs with it. */
  readonly domain: string;
  /** Deadline of each unary gRPC call. */
  readonly grpcTimeoutMs: number;
  /** How often the overview re-reads ClusterService (nodes, shards, NATS servers, metrics); never below 1 s. */
  readonly refreshMs: number;
  /** A browser session unused this long is forgotten (the person logs in again). */
  readonly sessionIdleMs: number;
  /** Browser sessions kept at once; one more forgets the least recently used. */
  readonly maxSessions: number;
  /** Server-sent event streams open at once; one more is refused with 503. */
  readonly maxStreams: number;
  readonly logLevel: LogLevel;
}

export function readConsoleConfig(env: Env): ConsoleConfig {
  return read(new EnvReader(env));
}

/** Every variable with its default and meaning, for docs/gen-config.mjs. */
export function describeConsoleConfig(): { name: string; default: string; description: string }[] {
  const r = new EnvReader({});
  read(r);
  return r.documented;
}

function read(r: EnvReader): ConsoleConfig {
  const logLevel = r.string('VIGIL_LOG_LEVEL', 'info', 'debug, info, warn or error');
  if (!isLogLevel(logLevel)) throw new ConfigError('VIGIL_LOG_LEVEL', `expected debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  const grpcServer = r.string('VIGIL_CONSOLE_GRPC_SERVER', '127.0.0.1:50051', 'host:port of the gRPC API the web console uses');
  if (!/^[^\s]+:\d{1,5}$/.test(grpcServer)) throw new ConfigError('VIGIL_CONSOLE_GRPC_SERVER', `expected host:port, got ${JSON.stringify(grpcServer)}`);
  return {
    host: r.string('VIGIL_CONSOLE_HOST', '127.0.0.1', 'address the web console listens on (plain HTTP: keep it on loopback or behind a TLS proxy)'),
    port: r.int('VIGIL_CONSOLE_PORT', 8080, 'HTTP port of the web console (0: any free port)', { min: 0, max: 65535 }),
    grpcServer,
    domain: r.string('VIGIL_DOMAIN', 'localhost', 'XMPP domain served by the cluster'),
    grpcTimeoutMs: r.int('VIGIL_CONSOLE_GRPC_TIMEOUT_MS', 5000, 'deadline of each gRPC call the web console makes', { min: 100, max: 120_000 }),
    refreshMs: r.int('VIGIL_CONSOLE_REFRESH_MS', 1000, 'how often the web console re-reads nodes, shards, NATS servers and latency metrics (at least 1000)', { min: 1000, max: 60_000 }),
    sessionIdleMs: r.int('VIGIL_CONSOLE_SESSION_IDLE_MS', 3_600_000, 'a web console login unused this long must log in again', { min: 10_000 }),
    maxSessions: r.int('VIGIL_CONSOLE_MAX_SESSIONS', 1000, 'web console logins kept at once (the least recently used is forgotten)', { min: 1, max: 1_000_000 }),
    maxStreams: r.int('VIGIL_CONSOLE_MAX_STREAMS', 200, 'live event streams the web console serves at once', { min: 1, max: 100_000 }),
    logLevel,
  };
}
