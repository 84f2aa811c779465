import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { store } from '@vigil/proto';
import { userFromKey, userKey } from '@vigil/cluster';
import { deriveScramCredential, type ScramCredential, type ScramHash } from '@vigil/xmpp';
import { AccountExistsError, RevisionConflictError, StoreError } from './errors.js';

/** SCRAM mechanisms for which every account stores keys. */
export const STORED_HASHES: readonly ScramHash[] = ['sha1', 'sha256'];

/**
 * Accounts in the accounts bucket, keyed by localpart. Only salted SCRAM keys
 * are stored (RFC 5802 §3); the password is gone once this returns.
 */
export class AccountStore {
  /** `jsm`: for reads the stream's leader must answer (existsAtLeader); without it those fall back to exists(). */
  constructor(private readonly kv: KV, private readonly bucket: string, private readonly jsm?: JetStreamManager) {}

  async create(username: string, password: string, iterations: number, nowMs = Date.now()): Promise<void> {
    const credentials = await Promise.all(STORED_HASHES.map((h) => deriveScramCredential(password, h, iterations)));
    const value = store.StoredAccount.encode({
      username,
      credentials: credentials.map(toStored),
      createdAtUnixMs: nowMs,
    }).finish();
    try {
      await this.kv.create(userKey(username), value);
    } catch (e) {
      if (await this.exists(username)) throw new AccountExistsError(this.bucket, userKey(username));
      throw e;
    }
  }

  /** Replaces the stored keys; the account must exist. */
  async setPassword(username: string, password: string, iterations: number): Promise<void> {
    const key = userKey(username);
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== 'PUT') throw new StoreError('no such account', this.bucket, key);
    const account = store.StoredAccount.decode(entry.value);
    const credentials = await Promise.all(STORED_HASHES.map((h) => deriveScramCredential(password, h, iterations)));
    const value = store.StoredAccount.encode({ ...account, credentials: credentials.map(toStored) }).finish();
    await this.kv.update(key, value, entry.revision);
  }

  /** Deletes the account; false when there was none. */
  async delete(username: string): Promise<boolean> {
    if (!(await this.exists(username))) return false;
    await this.kv.delete(userKey(username));
    return true;
  }

  /**
   * Usernames in lexical order after `after` (exclusive), at most `limit`.
   * Reads every key of the bucket: fine for administration, not for a hot path.
   */
  async list(after: string, limit: number): Promise<{ usernames: string[]; more: boolean }> {
    const all: string[] = [];
    for await (const key of await this.kv.keys()) all.push(userFromKey(key));
    all.sort();
    const rest = all.filter((u) => u > after);
    return { usernames: rest.slice(0, limit), more: rest.length > limit };
  }

  /** Every username, sorted (one pass over the keys; for export). */
  async usernames(): Promise<string[]> {
    const all: string[] = [];
    for await (const key of await this.kv.keys()) all.push(userFromKey(key));
    return all.sort();
  }

  /** The stored account with its revision, or undefined. */
  async read(username: string): Promise<{ account: store.StoredAccount; revision: number } | undefined> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { account: store.StoredAccount.decode(entry.value), revision: entry.revision };
  }

  /**
   * Import: creates the account with these keys, or replaces the keys of an
   * existing one when they differ. `credentials` undefined keeps an existing
   * account's keys (and creates a new one without any). Idempotent.
   */
  async importKeys(username: string, credentials: readonly ScramCredential[] | undefined, nowMs = Date.now()): Promise<'created' | 'updated' | 'unchanged'> {
    const key = userKey(username);
    const stored = (credentials ?? []).map(toStored);
    // Most accounts of an import are new: try to create first, read only when one is there.
    try {
      await this.kv.create(key, store.StoredAccount.encode({ username, credentials: stored, createdAtUnixMs: nowMs }).finish());
      return 'created';
    } catch (e) {
      if (!(await this.exists(username))) throw new StoreError('cannot create the imported account', this.bucket, key, { cause: e });
    }
    const current = await this.read(username);
    if (current === undefined) throw new StoreError('account deleted while importing it', this.bucket, key);
    if (credentials === undefined || sameCredentials(current.account.credentials, stored)) return 'unchanged';
    const value = store.StoredAccount.encode({ ...current.account, credentials: stored }).finish();
    try {
      await this.kv.update(key, value, current.revision);
    } catch (e) {
      throw new RevisionConflictError(this.bucket, key, e);
    }
    return 'updated';
  }

  async exists(username: string): Promise<boolean> {
    const entry = await this.kv.get(userKey(username));
    return entry !== null && entry.operation === 'PUT';
  }

  /**
   * exists(), answered by the stream's leader. The bucket allows direct
   * gets, which any replica may answer, one that is behind too: right after
   * a deletion such a replica still says the account exists, and a decision
   * taken on that (a bind after a deletion) would not be taken again.
   */
  async existsAtLeader(username: string): Promise<boolean> {
    if (this.jsm === undefined) return this.exists(username);
    const key = userKey(username);
    const msg = await this.jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${key}` });
    if (msg === null) return false;
    // A deletion is the key's last message, marked in its header.
    const op = msg.header?.get('KV-Operation') ?? '';
    return op === '' || op === 'PUT';
  }

  /**
   * Whether the bucket answers JetStream direct gets (allow_direct): a direct
   * get sent to a bucket without them gets no answer at all, only a timeout.
   */
  async directReads(): Promise<boolean> {
    const status = await this.kv.status();
    return status.streamInfo.config.allow_direct === true;
  }

  /** The stored SCRAM credential for one hash, or undefined for an unknown user. */
  async credential(username: string, hash: ScramHash): Promise<ScramCredential | undefined> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    const account = store.StoredAccount.decode(entry.value);
    const found = account.credentials.find((c) => c.hash === hash);
    return found === undefined ? undefined : fromStored(found, hash);
  }
}

function toStored(c: ScramCredential): store.StoredScramCredential {
  return { hash: c.hash, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey };
}

function sameCredentials(a: readonly store.StoredScramCredential[], b: readonly store.StoredScramCredential[]): boolean {
  const key = (c: store.StoredScramCredential): string =>
    `${c.hash}/${c.iterations}/${Buffer.from(c.salt).toString('base64')}/${Buffer.from(c.storedKey).toString('base64')}/${Buffer.from(c.serverKey).toString('base64')}`;
  const as = a.map(key).sort();
  const bs = b.map(key).sort();
  return as.length === bs.length && as.every((k, i) => k === bs[i]);
}

export function fromStored(c: store.StoredScramCredential, hash: ScramHash): ScramCredential {
  return {
    hash,
    salt: Buffer.from(c.salt),
    iterations: c.iterations,
    storedKey: Buffer.from(c.storedKey),
    serverKey: Buffer.from(c.serverKey),
  };
}
