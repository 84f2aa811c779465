import { readFileSync } from 'node:fs';
import { Metadata, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { str, type Values } from './command.js';
import { CliError, Exit, UsageError } from './exit-codes.js';
import { channelSecurity, type ChannelSecurity } from './tls.js';

export const DEFAULT_SERVER = '127.0.0.1:50051';
export const DEFAULT_TIMEOUT_S = 30;

export interface Endpoint {
  /** `host:port` of the gRPC API. */
  readonly server: string;
  /** Deadline of each unary call. */
  readonly timeoutMs: number;
  /** Plaintext, TLS or mutual TLS. */
  readonly security: ChannelSecurity;
}

/** Server and timeout from the options and the environment. */
export function endpoint(values: Values, env: Readonly<Record<string, string | undefined>>): Endpoint {
  const server = str(values, 'server') ?? (env.VIGIL_GRPC_SERVER || DEFAULT_SERVER);
  if (server.trim() === '') throw new UsageError('--server: HOST:PORT expected');
  const raw = str(values, 'timeout');
  const seconds = raw === undefined ? DEFAULT_TIMEOUT_S : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('--timeout: a positive number of seconds expected');
  return { server: server.trim(), timeoutMs: Math.round(seconds * 1000), security: channelSecurity(values, env) };
}

/**
 * The bearer token: --token, else --token-file, else VIGIL_TOKEN. Never
 * printed; errors name where it came from, not what it is.
 */
export function bearerToken(values: Values, env: Readonly<Record<string, string | undefined>>): string {
  const given = str(values, 'token');
  const file = str(values, 'token-file');
  if (given !== undefined && file !== undefined) throw new UsageError('--token and --token-file: give one of them');
  let token: string | undefined;
  let from: string;
  if (given !== undefined) {
    token = given;
    from = '--token';
  } else if (file !== undefined) {
    from = `--token-file ${file}`;
    try {
      token = readFileSync(file, 'utf8');
    } catch (e) {
      const code = e instanceof Error && 'code' in e ? String(e.code) : 'unreadable';
      throw new UsageError(`--token-file: cannot read ${file} (${code})`);
    }
  } else {
    token = env.VIGIL_TOKEN;
    from = 'VIGIL_TOKEN';
  }
  token = token?.trim();
  if (token === undefined || token === '') {
    throw new CliError(Exit.AUTH, given === undefined && file === undefined ? 'no token: set VIGIL_TOKEN, or pass --token-file FILE or --token TOKEN' : `${from}: the token is empty`);
  }
  if (/\s/.test(token)) throw new CliError(Exit.AUTH, `${from}: a token has no whitespace`);
  return token;
}

/** Import batches stay under 1 MiB, but an export page with long rosters may be larger than grpc-js's 4 MiB default. */
const CALL_SIZE_OPTIONS = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
/** A generated unary method, bound to its client. */
export type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown;

/** The services of vigil.presence.v1 on one channel each, made on first use. */
export class Api {
  readonly #clients: Client[] = [];
  #presence: api.presence.PresenceServiceClient | undefined;
  #roster: api.roster.RosterServiceClient | undefined;
  #account: api.account.AccountServiceClient | undefined;
  #cluster: api.cluster.ClusterServiceClient | undefined;
  #migration: api.migration.MigrationServiceClient | undefined;

  constructor(
    readonly endpoint: Endpoint,
    readonly token: string,
  ) {}

  #add<C extends Client>(c: C): C {
    this.#clients.push(c);
    return c;
  }

  get presence(): api.presence.PresenceServiceClient {
    return (this.#presence ??= this.#add(new api.presence.PresenceServiceClient(this.endpoint.server, this.endpoint.security.credentials, this.endpoint.security.options)));
  }

  get roster(): api.roster.RosterServiceClient {
    return (this.#roster ??= this.#add(new api.roster.RosterServiceClient(this.endpoint.server, this.endpoint.security.credentials, this.endpoint.security.options)));
  }

  get account(): api.account.AccountServiceClient {
    return (this.#account ??= this.#add(new api.account.AccountServiceClient(this.endpoint.server, this.endpoint.security.credentials, this.endpoint.security.options)));
  }

  get cluster(): api.cluster.ClusterServiceClient {
    return (this.#cluster ??= this.#add(new api.cluster.ClusterServiceClient(this.endpoint.server, this.endpoint.security.credentials, this.endpoint.security.options)));
  }

  get migration(): api.migration.MigrationServiceClient {
    return (this.#migration ??= this.#add(new api.migration.MigrationServiceClient(this.endpoint.server, this.endpoint.security.credentials, { ...CALL_SIZE_OPTIONS, ...this.endpoint.security.options })));
  }

  /** `authorization: Bearer <token>`. */
  metadata(): Metadata {
    const md = new Metadata();
    md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /** One unary call with the deadline; rejects with the ServiceError. */
  call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn(req, this.metadata(), { deadline: Date.now() + this.endpoint.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }
}
