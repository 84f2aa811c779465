import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { str, type Values } from './command.js';
import { UsageError } from './exit-codes.js';

type Env = Readonly<Record<string, string | undefined>>;

/** How the CLI's channels are secured: credentials plus the channel options that go with them. */
export interface ChannelSecurity {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  /** 'plaintext', 'tls' or 'mtls', for messages. */
  readonly mode: 'plaintext' | 'tls' | 'mtls';
}

/** An option's value, else its environment variable's; with where it came from, for messages. */
function setting(values: Values, env: Env, option: string, variable: string): { value: string; from: string } | undefined {
  const given = str(values, option);
  if (given !== undefined) return { value: given, from: `--${option}` };
  const fromEnv = env[variable];
  return fromEnv === undefined || fromEnv === '' ? undefined : { value: fromEnv, from: variable };
}

function readFile(s: { value: string; from: string }): Buffer {
  try {
    return readFileSync(s.value);
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? String(e.code) : 'unreadable';
    throw new UsageError(`${s.from}: cannot read ${s.value} (${code})`);
  }
}

/**
 * Plaintext unless asked for TLS: `--tls` (the system's CAs), `--ca FILE`
 * (trust this CA), `--cert FILE --key FILE` (a client certificate, for a
 * server that requires mutual TLS); each implies TLS. `--tls-server-name`
 * checks the server's certificate for that name instead of the host in
 * --server (e.g. a certificate for `localhost` served on 127.0.0.1).
 */
export function channelSecurity(values: Values, env: Env): ChannelSecurity {
  const ca = setting(values, env, 'ca', 'VIGIL_GRPC_CA_FILE');
  const cert = setting(values, env, 'cert', 'VIGIL_GRPC_CERT_FILE');
  const key = setting(values, env, 'key', 'VIGIL_GRPC_KEY_FILE');
  const serverName = setting(values, env, 'tls-server-name', 'VIGIL_GRPC_TLS_SERVER_NAME');
  const tlsFlag = values.tls === true || /^(1|true|yes|on)$/i.test(env.VIGIL_GRPC_TLS ?? '');
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? '--cert (or VIGIL_GRPC_CERT_FILE)' : '--key (or VIGIL_GRPC_KEY_FILE)';
    throw new UsageError(`${(cert ?? key)?.from ?? ''} needs ${missing}: a client certificate comes with its private key`);
  }
  const tls = tlsFlag || ca !== undefined || cert !== undefined || serverName !== undefined;
  if (!tls) return { credentials: credentials.createInsecure(), options: {}, mode: 'plaintext' };
  const creds = credentials.createSsl(
    ca === undefined ? null : readFile(ca),
    key === undefined ? null : readFile(key),
    cert === undefined ? null : readFile(cert),
  );
  const options: ChannelOptions = serverName === undefined ? {} : { 'grpc.ssl_target_name_override': serverName.value, 'grpc.default_authority': serverName.value };
  return { credentials: creds, options, mode: cert === undefined ? 'tls' : 'mtls' };
}
