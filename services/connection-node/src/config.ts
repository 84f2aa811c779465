import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, EnvReader, readClusterTimings, readTelemetryConfig, type ClusterTimings, type Env, type TelemetryConfig } from '@vigil/config';
import { isValidNodeId } from '@vigil/cluster';
import { isLogLevel, type LogLevel } from '@vigil/telemetry';
import { DEFAULT_TLS_CIPHERS, TLS_VERSIONS, type TlsMinVersion, type TlsSettings } from './tls-credentials.js';

/** Everything a connection node reads at start; see docs/configuration.md for the table. */
export interface NodeConfig {
  readonly nodeId: string;
  readonly natsUrl: string[];
  readonly subjectPrefix: string;
  readonly domain: string;
  readonly shardCount: number;
  readonly c2sHost: string;
  readonly c2sPort: number;
  /** XEP-0368 direct TLS port; 0: off. */
  readonly c2sTlsPort: number;
  /** Certificate, key and handshake policy; undefined: no TLS (STARTTLS is not offered). */
  readonly tls: TlsSettings | undefined;
  /** RFC 6120 §5.3.1: STARTTLS is mandatory-to-negotiate on the plain TCP port (`<required/>`, no SASL before it). */
  readonly tlsRequired: boolean;
  /** Offer STARTTLS on the plain TCP port when a certificate is configured (off: TLS only on the direct TLS port and wss). */
  readonly startTls: boolean;
  /** RFC 7395 XMPP over WebSocket port; 0: off. */
  readonly wsPort: number;
  readonly wsPath: string;
  /** Serve wss:// with the node's certificate instead of plain ws:// (loopback, or behind a TLS-terminating proxy). */
  readonly wsTls: boolean;
  /** SASL PLAIN on a stream without TLS: only for loopback development. */
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
  /** Bytes a client may send before it authenticates; beyond it the stream is closed. */
  readonly preAuthMaxBytes: number;
  /** Bytes written to a client and not yet read by it; beyond it the stream is closed (a client that never reads). */
  readonly maxOutboundBytes: number;
  /** Stanzas per second a client may send on average (token bucket), and the burst above it. */
  readonly stanzaRate: number;
  readonly stanzaBurst: number;
  /** Failed authentications per account or per address within the window that trigger a lockout. */
  readonly authMaxFailures: number;
  readonly authFailureWindowMs: number;
  readonly authLockoutMs: number;
  /** XEP-0199: a bound client silent this long gets a ping from the server. */
  readonly clientIdlePingMs: number;
  /** ...and is declared lost if still silent this long after it. */
  readonly clientPingTimeoutMs: number;
  readonly maxConnections: number;
  /** XEP-0198: how long a managed stream that died may be resumed; 0: acks only, no resumption. */
  readonly smResumeMs: number;
  /** XEP-0198: how long contacts keep seeing a resumable session that lost its connection as available. */
  readonly smPresenceGraceMs: number;
  /** XEP-0198: unacknowledged stanzas kept per session; beyond it the stream is closed. */
  readonly smMaxUnacked: number;
  /** XEP-0198: a client that has not answered the server's `<r/>` with an `<a/>` this long is declared lost; 0: never. */
  readonly smAckTimeoutMs: number;
  readonly rosterRequestTimeoutMs: number;
  readonly timings: ClusterTimings;
  readonly logLevel: LogLevel;
  /** /metrics, /livez, /readyz and OTLP export (docs/operations.md). */
  readonly telemetry: TelemetryConfig;
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
    ...readTransportConfig(env),
    allowPlainWithoutTls: env.bool('VIGIL_ALLOW_PLAIN_WITHOUT_TLS', false, 'offer SASL PLAIN on unencrypted streams'),
    allowRegistration: env.bool('VIGIL_ALLOW_REGISTRATION', false, 'XEP-0077 in-band registration (account creation by anyone who can connect)'),
    scramIterations: env.int('VIGIL_SCRAM_ITERATIONS', 10_000, 'PBKDF2 iterations of SCRAM credentials created here and shown for unknown users', { min: 4096 }),
    maxStanzaBytes: env.int('VIGIL_MAX_STANZA_BYTES', 65536, 'largest stanza accepted after authentication', { min: 1024 }),
    preAuthMaxStanzaBytes: env.int('VIGIL_PREAUTH_MAX_STANZA_BYTES', 8192, 'largest stanza accepted before authentication', { min: 512 }),
    maxDepth: env.int('VIGIL_MAX_XML_DEPTH', 32, 'deepest element nesting inside a stanza', { min: 4, max: 1024 }),
    maxPendingStanzas: env.int('VIGIL_MAX_PENDING_STANZAS', 256, 'stanzas queued per stream before it is closed', { min: 8 }),
    clientIdlePingMs: env.int('VIGIL_CLIENT_IDLE_PING_MS', 60_000, 'silence after which the server pings a client (XEP-0199)', { min: 100 }),
    clientPingTimeoutMs: env.int('VIGIL_CLIENT_PING_TIMEOUT_MS', 30_000, 'a pinged client still silent this long is declared lost', { min: 100 }),
    authMaxFailures: env.int('VIGIL_AUTH_MAX_FAILURES', 10, 'failed authentications per account or address that lock it out', { min: 1 }),
    authFailureWindowMs: env.int('VIGIL_AUTH_FAILURE_WINDOW_MS', 300_000, 'window in which failures are counted', { min: 1000 }),
    authLockoutMs: env.int('VIGIL_AUTH_LOCKOUT_MS', 300_000, 'how long a locked account or address is refused', { min: 1000 }),
    preAuthMaxBytes: env.int('VIGIL_PREAUTH_MAX_BYTES', 65536, 'bytes a connection may send before it authenticates', { min: 4096 }),
    maxOutboundBytes: env.int('VIGIL_MAX_OUTBOUND_BYTES', 1_048_576, 'bytes buffered for a client that is not reading before its stream is closed', { min: 65536 }),
    stanzaRate: env.int('VIGIL_STANZA_RATE', 200, 'stanzas per second a client may send on average', { min: 1 }),
    stanzaBurst: env.int('VIGIL_STANZA_BURST', 1000, 'stanzas a client may send at once above the average rate', { min: 1 }),
    authTimeoutMs: env.int('VIGIL_AUTH_TIMEOUT_MS', 30_000, 'time allowed from connect to bound resource', { min: 1000 }),
    ...readStreamManagementConfig(env),
    maxConnections: env.int('VIGIL_MAX_CONNECTIONS', 100_000, 'client connections accepted at once', { min: 1 }),
    rosterRequestTimeoutMs: env.int('VIGIL_ROSTER_REQUEST_TIMEOUT_MS', 5000, 'wait for the authority to answer a roster request', { min: 100 }),
    timings: readClusterTimings(env),
    logLevel,
    telemetry: readTelemetryConfig(env),
  };
}

type StreamManagementConfig = Pick<NodeConfig, 'smResumeMs' | 'smPresenceGraceMs' | 'smMaxUnacked' | 'smAckTimeoutMs'>;

/** XEP-0198 settings; the reasons for the defaults are in docs/decisions.md ("Stream management"). */
function readStreamManagementConfig(env: EnvReader): StreamManagementConfig {
  const smResumeMs = env.int('VIGIL_SM_RESUME_MS', 300_000, 'XEP-0198 resumption window of a managed stream that lost its connection; 0: no resumption', { min: 0 });
  const smPresenceGraceMs = env.int('VIGIL_SM_PRESENCE_GRACE_MS', 3000, 'a resumable session that lost its connection is announced unavailable after this (shorter than the resumption window)', { min: 0 });
  const smMaxUnacked = env.int('VIGIL_SM_MAX_UNACKED', 1000, 'unacknowledged stanzas kept per managed stream before it is closed', { min: 16 });
  const smAckTimeoutMs = env.int('VIGIL_SM_ACK_TIMEOUT_MS', 30_000, "a managed stream whose client has not answered the server's <r/> within this is declared lost; 0: no limit", { min: 0 });
  if (smAckTimeoutMs > 0 && smAckTimeoutMs < 100) throw new ConfigError('VIGIL_SM_ACK_TIMEOUT_MS', `must be 0 (off) or at least 100, got ${smAckTimeoutMs}`);
  if (smResumeMs > 0 && smPresenceGraceMs >= smResumeMs) {
    throw new ConfigError('VIGIL_SM_PRESENCE_GRACE_MS', `must be shorter than VIGIL_SM_RESUME_MS (${smResumeMs}), got ${smPresenceGraceMs}`);
  }
  return { smResumeMs, smPresenceGraceMs, smMaxUnacked, smAckTimeoutMs };
}

type TransportConfig = Pick<NodeConfig, 'c2sTlsPort' | 'tls' | 'tlsRequired' | 'startTls' | 'wsPort' | 'wsPath' | 'wsTls'>;

/** TLS and WebSocket settings; every variable is read (and so documented) whatever the others say. */
function readTransportConfig(env: EnvReader): TransportConfig {
  const port = (name: string, description: string) => env.int(name, 0, description, { min: 0, max: 65535 });
  const c2sTlsPort = port('VIGIL_C2S_TLS_PORT', 'XEP-0368 direct TLS port for client connections; 0: off (needs a certificate)');
  const certFile = env.string('VIGIL_TLS_CERT_FILE', '', 'PEM certificate (chain) for STARTTLS, direct TLS and wss; empty: no TLS');
  const keyFile = env.string('VIGIL_TLS_KEY_FILE', '', 'PEM private key of VIGIL_TLS_CERT_FILE; both files are re-read on SIGHUP');
  const required = env.string('VIGIL_TLS_REQUIRED', 'auto', 'STARTTLS before SASL on the TCP port: true, false, or auto (true when a certificate is configured)');
  const minVersion = env.string('VIGIL_TLS_MIN_VERSION', 'TLSv1.2', 'oldest TLS version accepted: TLSv1.2 or TLSv1.3');
  const ciphers = env.string('VIGIL_TLS_CIPHERS', DEFAULT_TLS_CIPHERS, 'OpenSSL cipher list (TLS 1.3 suites included); default: AEAD with forward secrecy only');
  const wsPort = port('VIGIL_WS_PORT', 'XMPP over WebSocket (RFC 7395) port; 0: off');
  const wsPath = env.string('VIGIL_WS_PATH', '/xmpp-websocket', 'HTTP path of the WebSocket endpoint');
  const wsTls = env.bool('VIGIL_WS_TLS', false, 'serve wss:// with the TLS certificate instead of ws://');
  const startTls = env.bool('VIGIL_STARTTLS', true, 'offer STARTTLS on the plain TCP port when a certificate is configured');

  if ((certFile === '') !== (keyFile === '')) {
    throw new ConfigError(certFile === '' ? 'VIGIL_TLS_CERT_FILE' : 'VIGIL_TLS_KEY_FILE', 'set both VIGIL_TLS_CERT_FILE and VIGIL_TLS_KEY_FILE, or neither');
  }
  if (!(TLS_VERSIONS as readonly string[]).includes(minVersion)) {
    throw new ConfigError('VIGIL_TLS_MIN_VERSION', `must be one of ${TLS_VERSIONS.join(', ')}, got ${JSON.stringify(minVersion)}`);
  }
  const tls = certFile === '' ? undefined : { certFile, keyFile, minVersion: minVersion as TlsMinVersion, ciphers };
  const tlsRequired = parseAuto('VIGIL_TLS_REQUIRED', required, tls !== undefined);
  if (tls === undefined) {
    const needsCert = tlsRequired ? 'VIGIL_TLS_REQUIRED' : c2sTlsPort > 0 ? 'VIGIL_C2S_TLS_PORT' : wsTls ? 'VIGIL_WS_TLS' : undefined;
    if (needsCert !== undefined) throw new ConfigError(needsCert, 'needs VIGIL_TLS_CERT_FILE and VIGIL_TLS_KEY_FILE');
  }
  if (!wsPath.startsWith('/')) throw new ConfigError('VIGIL_WS_PATH', `must start with /, got ${JSON.stringify(wsPath)}`);
  if (tlsRequired && !startTls) throw new ConfigError('VIGIL_STARTTLS', 'cannot be false while VIGIL_TLS_REQUIRED makes STARTTLS mandatory');
  return { c2sTlsPort, tls, tlsRequired, startTls, wsPort, wsPath, wsTls };
}

function parseAuto(name: string, raw: string, auto: boolean): boolean {
  if (/^auto$/i.test(raw)) return auto;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true, false or auto, got ${JSON.stringify(raw)}`);
}

/** Every variable readNodeConfig reads, with its default and meaning (docs/configuration.md lists them). */
export function describeNodeConfig(): { name: string; default: string; description: string }[] {
  const env = new EnvReader({});
  readNodeConfig({}, env);
  return env.documented;
}
