/**
 * Client side of SCRAM (RFC 5802; SCRAM-SHA-256 per RFC 7677), without
 * channel binding (gs2 flag 'n'), for the load generator.
 *
 * Like real clients, it keeps ClientKey and ServerKey per (hash, password,
 * salt, iterations) so a second login of the same account costs two HMACs,
 * not a PBKDF2 run: the load generator must not burn the CPU the server
 * needs. Salts are per account, so the first login of every account still
 * derives once.
 */
import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';
import { pooledRandomBytes } from '@vigil/xmpp';

export type ScramMechanism = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';
type Hash = 'sha1' | 'sha256';

/** The hash each mechanism names (RFC 5802 §4, RFC 7677). */
export const SCRAM_HASH: Record<ScramMechanism, Hash> = { 'SCRAM-SHA-1': 'sha1', 'SCRAM-SHA-256': 'sha256' };

const HASH: Record<ScramMechanism, { readonly name: Hash; readonly bytes: number }> = {
  'SCRAM-SHA-1': { name: 'sha1', bytes: 20 },
  'SCRAM-SHA-256': { name: 'sha256', bytes: 32 },
};

/** A SCRAM exchange that cannot go on: bad server message or wrong server signature. */
export class ScramClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScramClientError';
  }
}

interface ClientKeys {
  readonly clientKey: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/**
 * Bounded: at the maximum the oldest entry goes (Map keeps insertion order).
 * 64 Ki entries of three ≤32-byte keys stay well under 32 MiB.
 */
const MAX_CACHED_KEYS = 65_536;
const keyCache = new Map<string, ClientKeys | Promise<ClientKeys>>();
const cacheStats = { derivations: 0, hits: 0 };

/** How often logins derived keys versus reused them, for the report. */
export function scramKeyCacheStats(): { derivations: number; hits: number; size: number } {
  return { ...cacheStats, size: keyCache.size };
}

function hmac(hash: Hash, key: Buffer, data: string): Buffer {
  return createHmac(hash, key).update(data).digest();
}

/**
 * RFC 5802 §3: SaltedPassword = Hi(Normalize(password), salt, i); then
 * ClientKey, StoredKey, ServerKey. The keys themselves when cached (a
 * login then needs no promise), else a promise of them. `salt` is the
 * base64 text the server sent (or the account store's salt in base64).
 */
function clientKeys(mechanism: ScramMechanism, password: string, salt: string, iterations: number): ClientKeys | Promise<ClientKeys> {
  const { name, bytes } = HASH[mechanism];
  // NFKC stands in for SASLprep, exactly as the server does (libs/xmpp preparePassword).
  const prepared = password.normalize('NFKC');
  const cacheKey = `${name}\0${iterations}\0${salt}\0${prepared}`;
  const cached = keyCache.get(cacheKey);
  if (cached !== undefined) {
    cacheStats.hits += 1;
    return cached;
  }
  cacheStats.derivations += 1;
  const derived = new Promise<ClientKeys>((resolve, reject) => {
    // Async pbkdf2 runs on the libuv pool, off the event loop that timestamps stanzas.
    pbkdf2(prepared, Buffer.from(salt, 'base64'), iterations, bytes, name, (error, salted) => {
      if (error) return reject(error);
      const clientKey = hmac(name, salted, 'Client Key');
      const keys = {
        clientKey,
        storedKey: createHash(name).update(clientKey).digest(),
        serverKey: hmac(name, salted, 'Server Key'),
      };
      // Later logins take the keys as they are, without a promise to await.
      if (keyCache.get(cacheKey) === derived) keyCache.set(cacheKey, keys);
      resolve(keys);
    });
  });
  derived.catch(() => keyCache.delete(cacheKey));
  if (keyCache.size >= MAX_CACHED_KEYS) {
    const oldest = keyCache.keys().next();
    if (oldest.done !== true) keyCache.delete(oldest.value);
  }
  keyCache.set(cacheKey, derived);
  return derived;
}

/**
 * Fill the cache for an account whose salt and iteration count are already
 * known (read from the account store during a benchmark's setup), as a
 * client that logged in before would have: the measured phase then derives
 * nothing.
 */
export async function primeScramKeys(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Promise<void> {
  await clientKeys(mechanism, password, salt.toString('base64'), iterations);
}

/** RFC 5802 §5.1: ',' and '=' in a saslname travel as '=2C' and '=3D'. */
function saslname(name: string): string {
  return name.normalize('NFKC').replace(/[,=]/g, (c) => (c === ',' ? '=2C' : '=3D'));
}

/** RFC 5802 §5.1 attribute-value pairs: 'r=…,s=…,i=…'. Values may contain '='. */
function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new ScramClientError(`malformed SCRAM attribute ${JSON.stringify(part.slice(0, 40))}`);
    out.set(part.slice(0, 1), part.slice(2));
  }
  return out;
}

const GS2_HEADER = 'n,,';
/** RFC 5802 §7 c= of the client-final-message without channel binding: the GS2 header in base64, then the nonce. */
const CHANNEL_BINDING = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=`;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

/** One SCRAM exchange: clientFirst() → clientFinal(serverFirst) → verifyServerFinal(serverFinal). */
export class ScramClient {
  readonly #mechanism: ScramMechanism;
  readonly #password: string;
  readonly #nonce: string;
  readonly #firstBare: string;
  #expectedServerSignature: Buffer | undefined;

  constructor(mechanism: ScramMechanism, username: string, password: string, nonce: string = pooledRandomBytes(18).toString('base64')) {
    if (!PRINTABLE_NONCE.test(nonce)) throw new RangeError('SCRAM nonce must be printable ASCII without commas');
    this.#mechanism = mechanism;
    this.#password = password;
    this.#nonce = nonce;
    this.#firstBare = `n=${saslname(username)},r=${nonce}`;
  }

  clientFirst(): string {
    return GS2_HEADER + this.#firstBare;
  }

  /** RFC 5802 §3: checks the server-first-message and answers with the proof. */
  async clientFinal(serverFirst: string): Promise<string> {
    return this.clientFinalNow(serverFirst);
  }

  /**
   * clientFinal, synchronous when the account's keys are cached (the usual
   * case in a benchmark), else a promise; throws ScramClientError on a bad
   * server-first-message either way.
   */
  clientFinalNow(serverFirst: string): string | Promise<string> {
    const attrs = attributes(serverFirst);
    if (attrs.has('m')) throw new ScramClientError('server requires an unsupported SCRAM extension');
    const nonce = attrs.get('r') ?? '';
    const saltText = attrs.get('s') ?? '';
    const iterations = Number(attrs.get('i'));
    if (!nonce.startsWith(this.#nonce) || nonce.length <= this.#nonce.length) {
      throw new ScramClientError('server nonce does not extend the client nonce');
    }
    if (saltText === '' || !BASE64.test(saltText)) throw new ScramClientError('salt is not base64');
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new ScramClientError('iteration count is not a positive integer');
    // Cached under the salt in padded base64 (as primeScramKeys stores it): an unpadded salt is re-encoded first.
    const salt = saltText.length % 4 === 0 ? saltText : Buffer.from(saltText, 'base64').toString('base64');
    const keys = clientKeys(this.#mechanism, this.#password, salt, iterations);
    if (keys instanceof Promise) return keys.then((k) => this.#proof(k, nonce, serverFirst));
    return this.#proof(keys, nonce, serverFirst);
  }

  #proof(keys: ClientKeys, nonce: string, serverFirst: string): string {
    const withoutProof = `${CHANNEL_BINDING}${nonce}`;
    const authMessage = `${this.#firstBare},${serverFirst},${withoutProof}`;
    const hash = HASH[this.#mechanism].name;
    // ClientProof = ClientKey XOR ClientSignature, computed in the signature's buffer.
    const proof = hmac(hash, keys.storedKey, authMessage);
    for (let i = 0; i < proof.length; i += 1) proof[i] = (keys.clientKey[i] ?? 0) ^ (proof[i] ?? 0);
    this.#expectedServerSignature = hmac(hash, keys.serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** RFC 5802 §3: the server proves it knows ServerKey; 'e=' is a server-side failure. */
  verifyServerFinal(serverFinal: string): void {
    const expected = this.#expectedServerSignature;
    if (expected === undefined) throw new ScramClientError('server-final-message before client-final-message');
    const attrs = attributes(serverFinal);
    const error = attrs.get('e');
    if (error !== undefined) throw new ScramClientError(`server reported SCRAM error ${error}`);
    const got = Buffer.from(attrs.get('v') ?? '', 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ScramClientError('server signature does not verify: the server does not know this password');
    }
  }
}
