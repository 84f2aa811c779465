import { NoRespondersError, type Msg } from '@nats-io/transport-node';
import { store } from '@vigil/proto';
import { BUCKETS, userKey } from '@vigil/cluster';
import { fromStored } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import type { ScramCredential, ScramHash } from '@vigil/xmpp';

/** Where SASL reads an account's stored SCRAM keys (AccountStore is one). */
export interface CredentialSource {
  credential(username: string, hash: ScramHash): Promise<ScramCredential | undefined>;
}

/** A JetStream direct get that answered with an error status. */
export class CredentialReadError extends Error {
  override readonly name = 'CredentialReadError';
  constructor(readonly subject: string, readonly code: number, readonly description: string) {
    super(`credential read on '${subject}' failed: ${code} ${description}`);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The credential read of every login as one JetStream direct get
 * (`$JS.API.DIRECT.GET.<stream>.<subject>`: the last message on the key's
 * subject, as nats.js's own `kv.get()` asks for it) sent through the node's request multiplexer, instead of nats.js
 * `kv.get()` with its request object, timer and error per call. Same
 * answer: the account's latest value, none when absent, deleted or purged.
 * A bucket without direct gets (created with allow_direct off) would leave
 * them unanswered until the timeout: `direct` says, from the bucket's
 * configuration read at start, whether to use them or read through
 * `fallback` (AccountStore); a no-responders answer (the stream gone)
 * switches to `fallback` too.
 */
export class DirectCredentials implements CredentialSource {
  #direct: boolean;

  constructor(
    private readonly fallback: CredentialSource,
    private readonly request: (subject: string, data: Uint8Array) => Promise<Msg>,
    private readonly log: Logger,
    options: { readonly direct: boolean; readonly bucket?: string },
  ) {
    this.#direct = options.direct;
    this.bucket = options.bucket ?? BUCKETS.accounts;
    if (!this.#direct) log.info('accounts bucket without direct gets: credentials are read through the KV client', { bucket: this.bucket });
  }

  private readonly bucket: string;

  async credential(username: string, hash: ScramHash): Promise<ScramCredential | undefined> {
    if (!this.#direct) return this.fallback.credential(username, hash);
    const keySubject = `$KV.${this.bucket}.${userKey(username)}`;
    const subject = `$JS.API.DIRECT.GET.KV_${this.bucket}.${keySubject}`;
    let msg: Msg;
    try {
      msg = await this.request(subject, EMPTY);
    } catch (e) {
      if (!(e instanceof NoRespondersError)) throw e;
      this.#direct = false;
      this.log.warn('accounts bucket answers no direct gets; reading credentials through the KV client', { bucket: this.bucket });
      return this.fallback.credential(username, hash);
    }
    const h = msg.headers;
    const code = h?.code ?? 0;
    if (code === 404) return undefined;
    if (code !== 0) throw new CredentialReadError(subject, code, h?.description ?? '');
    // A delete or purge leaves a marker as the key's last message.
    const op = h?.get('KV-Operation') ?? '';
    if (op === 'DEL' || op === 'PURGE') return undefined;
    if (h !== undefined && h.get('Nats-Subject') !== keySubject) return undefined;
    const account = store.StoredAccount.decode(msg.data);
    const found = account.credentials.find((c) => c.hash === hash);
    return found === undefined ? undefined : fromStored(found, hash);
  }
}
