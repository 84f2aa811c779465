import { credentials, Metadata, status, type CallOptions, type ChannelOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import type { Scope } from './view.js';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
/** A generated unary method, bound to its client. */
export type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: Callback<Res>) => unknown;

/**
 * The channel reconnects quickly after the cluster comes back: grpc-js backs
 * off up to 120 s by default, and the page says "retrying" meanwhile.
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 3000,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 5000,
};

/**
 * The cluster as the console sees it: the four services of
 * vigil.presence.v1 over one shared set of channels. Every call carries the
 * browser session's own token, so the API decides what each person may do.
 */
export class ClusterApi {
  readonly presence: api.presence.PresenceServiceClient;
  readonly roster: api.roster.RosterServiceClient;
  readonly account: api.account.AccountServiceClient;
  readonly cluster: api.cluster.ClusterServiceClient;
  readonly #clients: Client[];

  constructor(
    readonly server: string,
    readonly timeoutMs: number,
  ) {
    const insecure = credentials.createInsecure();
    this.presence = new api.presence.PresenceServiceClient(server, insecure, CHANNEL_OPTIONS);
    this.roster = new api.roster.RosterServiceClient(server, insecure, CHANNEL_OPTIONS);
    this.account = new api.account.AccountServiceClient(server, insecure, CHANNEL_OPTIONS);
    this.cluster = new api.cluster.ClusterServiceClient(server, insecure, CHANNEL_OPTIONS);
    this.#clients = [this.presence, this.roster, this.account, this.cluster];
  }

  static metadata(token: string): Metadata {
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    return md;
  }

  /** One unary call with the token and the deadline; rejects with the ServiceError. */
  call<Req, Res>(token: string, fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn(req, ClusterApi.metadata(token), { deadline: Date.now() + this.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  /**
   * What a token may do, asked of the API itself: a read (ListNodes) proves
   * it is known, then a KickSession with no JID tells the scopes apart
   * without acting — the API checks the scope before the arguments, so an
   * admin token gets INVALID_ARGUMENT and a read-only one PERMISSION_DENIED.
   */
  async scopeOf(token: string): Promise<Scope> {
    await this.call(token, this.cluster.listNodes.bind(this.cluster), {});
    try {
      await this.call(token, this.presence.kickSession.bind(this.presence), { fullJid: '', reason: '' });
    } catch (e) {
      if (isServiceError(e) && e.code === status.INVALID_ARGUMENT) return 'admin';
      if (isServiceError(e) && e.code === status.PERMISSION_DENIED) return 'read';
      throw e;
    }
    throw new Error('KickSession with an empty full_jid succeeded: the API no longer validates it, so the console cannot tell scopes apart');
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && 'code' in e && typeof e.code === 'number' && 'details' in e;
}

/** The gRPC status name of a code (`UNAVAILABLE`, …). */
export function statusName(code: number): string {
  return status[code] ?? String(code);
}
