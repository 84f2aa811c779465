/**
 * Server side of one SCRAM exchange (RFC 5802; SCRAM-SHA-256 per RFC 7677),
 * without channel binding: only the non-PLUS mechanisms are offered.
 */
import { randomBytes } from 'node:crypto';
import { pooledRandomBytes } from './random-pool.js';
import { SaslFailure, decodeUtf8 } from './sasl.js';
import {
  HASH_BYTES,
  constantTimeEqual,
  digest,
  hmac,
  type ScramCredential,
  type ScramHash,
} from './scram-credential.js';

export type CredentialLookup = (username: string) => Promise<ScramCredential | undefined>;

export interface ScramSessionOptions {
  /** The server's part of the nonce; only tests should set it (RFC test vectors). */
  serverNonce?: string;
  /** Iteration count announced for unknown users; match what real accounts use. */
  fakeIterations?: number;
  /**
   * Whether a non-empty authzid may act for the username. Default: only the
   * username itself. XMPP servers also accept the user's own bare JID.
   */
  authzidAllowed?: (authzid: string, username: string) => boolean;
}

const DEFAULT_NONCE_BYTES = 18;
const DEFAULT_FAKE_ITERATIONS = 4096;
const FAKE_SALT_BYTES = 16;
/** Per-process key for decoy salts: stable for one username, unguessable across users. */
const FAKE_SALT_KEY = randomBytes(32);

/** RFC 5802 §7: printable = %x21-2B / %x2D-7E (no comma). */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface ClientFirst {
  gs2Header: string;
  bare: string;
  username: string;
  authzid: string;
  clientNonce: string;
}

interface Exchange extends ClientFirst {
  nonce: string;
  serverFirst: string;
  /** undefined for an unknown user: the exchange runs on, against a decoy, and fails at the end. */
  credential: ScramCredential | undefined;
}

type Phase = 'initial' | 'looking-up' | 'awaiting-final' | 'succeeded' | 'failed';

function malformed(message: string): SaslFailure {
  return new SaslFailure('malformed-request', message);
}

export class ScramServerSession {
  readonly #hash: ScramHash;
  readonly #lookup: CredentialLookup;
  readonly #nonceBytes: number;
  readonly #options: ScramSessionOptions;
  #phase: Phase = 'initial';
  #exchange: Exchange | undefined;
  #username: string | undefined;

  constructor(
    hash: ScramHash,
    lookup: CredentialLookup,
    nonceBytes: number = DEFAULT_NONCE_BYTES,
    options: ScramSessionOptions = {},
  ) {
    if (options.serverNonce !== undefined && !PRINTABLE.test(options.serverNonce)) {
      throw new RangeError('serverNonce must be printable ASCII without commas');
    }
    this.#hash = hash;
    this.#lookup = lookup;
    this.#nonceBytes = nonceBytes;
    this.#options = options;
  }

  /** The authenticated username, set only after finish() accepted the proof. */
  get username(): string | undefined {
    return this.#username;
  }

  async start(clientFirst: Buffer): Promise<Buffer> {
    if (this.#phase !== 'initial') throw malformed('SCRAM exchange already started');
    this.#phase = 'failed';
    const first = parseClientFirst(decodeUtf8(clientFirst, 'client-first-message'));
    const allowed = this.#options.authzidAllowed ?? ((a: string, u: string) => a === u);
    if (first.authzid !== '' && !allowed(first.authzid, first.username)) {
      throw new SaslFailure('invalid-authzid', 'authorization identity differs from the username');
    }
    this.#phase = 'looking-up';
    let found: ScramCredential | undefined;
    try {
      found = await this.#lookup(first.username);
    } catch (error: unknown) {
      this.#phase = 'failed';
      const failure = new SaslFailure('temporary-auth-failure', 'credential lookup failed');
      failure.cause = error;
      throw failure;
    }
    // A credential for another hash cannot verify this mechanism: treat it like an unknown user.
    const credential = found !== undefined && found.hash === this.#hash ? found : undefined;
    const salt = credential?.salt ?? this.#fakeSalt(first.username);
    const iterations = credential?.iterations ?? this.#options.fakeIterations ?? DEFAULT_FAKE_ITERATIONS;
    const serverPart = this.#options.serverNonce ?? pooledRandomBytes(this.#nonceBytes).toString('base64');
    const nonce = first.clientNonce + serverPart;
    const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
    this.#exchange = { ...first, nonce, serverFirst, credential };
    this.#phase = 'awaiting-final';
    return Buffer.from(serverFirst, 'utf8');
  }

  finish(clientFinal: Buffer): Buffer {
    const exchange = this.#exchange;
    if (this.#phase !== 'awaiting-final' || exchange === undefined) {
      throw malformed('SCRAM client-final-message out of order');
    }
    this.#phase = 'failed';
    const text = decodeUtf8(clientFinal, 'client-final-message');
    // RFC 5802 §7: client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('client-final-message has no proof');
    const withoutProof = text.slice(0, proofAt);
    const [binding = '', nonce = ''] = withoutProof.split(',');
    if (!binding.startsWith('c=') || !nonce.startsWith('r=')) {
      throw malformed('client-final-message must start with c= and r=');
    }
    const echoed = decodeBase64(binding.slice(2));
    if (echoed === undefined) throw malformed('channel binding is not base64');
    // RFC 5802 §6: without channel binding, c= must echo the GS2 header byte for byte.
    if (!echoed.equals(Buffer.from(exchange.gs2Header, 'utf8'))) {
      throw new SaslFailure('not-authorized', 'channel binding does not match the GS2 header');
    }
    if (nonce.slice(2) !== exchange.nonce) throw new SaslFailure('not-authorized', 'nonce mismatch');
    const proof = decodeBase64(text.slice(proofAt + 3));
    if (proof === undefined) throw malformed('proof is not base64');

    // Unknown users are checked against a random decoy so the work done (and its timing) matches.
    const credential = exchange.credential ?? this.#decoy();
    const authMessage = `${exchange.bare},${exchange.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.#hash, credential.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const proofValid =
      clientKey !== undefined && constantTimeEqual(digest(this.#hash, clientKey), credential.storedKey);
    if (!proofValid || exchange.credential === undefined) {
      throw new SaslFailure('not-authorized', 'invalid username or password');
    }
    this.#phase = 'succeeded';
    this.#username = exchange.username;
    const serverSignature = hmac(this.#hash, credential.serverKey, authMessage);
    return Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8');
  }

  #fakeSalt(username: string): Buffer {
    return hmac('sha256', FAKE_SALT_KEY, `${this.#hash}\0${username}`).subarray(0, FAKE_SALT_BYTES);
  }

  #decoy(): ScramCredential {
    const size = HASH_BYTES[this.#hash];
    return {
      hash: this.#hash,
      salt: Buffer.alloc(0),
      iterations: 0,
      storedKey: randomBytes(size),
      serverKey: randomBytes(size),
    };
  }
}

/**
 * RFC 5802 §7:
 *   client-first-message = gs2-header client-first-message-bare
 *   gs2-header = gs2-cbind-flag "," [ authzid ] ","
 *   client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
 */
function parseClientFirst(text: string): ClientFirst {
  const flagEnd = text.indexOf(',');
  const headerEnd = flagEnd < 0 ? -1 : text.indexOf(',', flagEnd + 1);
  if (headerEnd < 0) throw malformed('client-first-message has no GS2 header');
  const flag = text.slice(0, flagEnd);
  if (flag.startsWith('p=')) {
    throw malformed('channel binding is not supported; offered mechanisms are non-PLUS only');
  }
  // 'y' (client could bind, thinks we cannot) is correct: we advertise no -PLUS variant (RFC 5802 §6).
  if (flag !== 'n' && flag !== 'y') throw malformed('invalid GS2 channel binding flag');
  const authzidField = text.slice(flagEnd + 1, headerEnd);
  if (authzidField !== '' && !authzidField.startsWith('a=')) throw malformed('invalid GS2 authzid');
  const authzid = authzidField === '' ? '' : decodeSaslname(authzidField.slice(2));

  const bare = text.slice(headerEnd + 1);
  const [user = '', nonce = ''] = bare.split(',');
  if (user.startsWith('m=')) throw malformed('mandatory SCRAM extensions are not supported');
  if (!user.startsWith('n=') || !nonce.startsWith('r=')) {
    throw malformed('client-first-message-bare must start with n= and r=');
  }
  const username = decodeSaslname(user.slice(2));
  if (username === '') throw malformed('empty username');
  const clientNonce = nonce.slice(2);
  if (!PRINTABLE.test(clientNonce)) throw malformed('client nonce must be printable ASCII');
  return { gs2Header: text.slice(0, headerEnd + 1), bare, username, authzid, clientNonce };
}

/**
 * RFC 5802 §5.1: ',' and '=' travel as '=2C' and '=3D'; any other '=' is
 * malformed. NFKC stands in for SASLprep on the decoded name.
 */
function decodeSaslname(encoded: string): string {
  if (/=(?!2C|3D)/.test(encoded)) throw malformed('invalid "=" escape in saslname');
  return encoded.replace(/=2C|=3D/g, (escape) => (escape === '=2C' ? ',' : '=')).normalize('NFKC');
}

/** Strict base64: Buffer.from() would silently skip garbage. */
function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

function xor(a: Buffer, b: Buffer): Buffer | undefined {
  if (a.length !== b.length) return undefined;
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}
