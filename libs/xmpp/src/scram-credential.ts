/**
 * Salted SCRAM credentials (RFC 5802 §3): what the account store keeps
 * instead of a password. The same record verifies SCRAM proofs and, for
 * SASL PLAIN, a password presented over TLS.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramHash = 'sha1' | 'sha256';

export interface ScramCredential {
  hash: ScramHash;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export const HASH_BYTES: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

const DEFAULT_SALT_BYTES = 16;

export function hmac(hash: ScramHash, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(hash, key).update(data).digest();
}

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}

/** Constant-time comparison that is also safe for buffers of different lengths. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Pragmatic stand-in for SASLprep (RFC 4013, required by RFC 5802 §2.2):
 * NFKC is its normalisation step; the prohibited-character tables are not
 * applied.
 */
export function preparePassword(password: string): string {
  return password.normalize('NFKC');
}

function saltedPassword(password: string, hash: ScramHash, salt: Buffer, iterations: number): Promise<Buffer> {
  // RFC 5802 §2.2: Hi() is PBKDF2 with HMAC as the PRF and output length = hash length.
  return new Promise((resolve, reject) => {
    pbkdf2(preparePassword(password), salt, iterations, HASH_BYTES[hash], hash, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/** RFC 5802 §3: ClientKey, StoredKey and ServerKey from SaltedPassword. */
function keysFrom(hash: ScramHash, salted: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(hash, salted, 'Client Key');
  return { storedKey: digest(hash, clientKey), serverKey: hmac(hash, salted, 'Server Key') };
}

export async function deriveScramCredential(
  password: string,
  hash: ScramHash,
  iterations: number,
  salt: Buffer = randomBytes(DEFAULT_SALT_BYTES),
): Promise<ScramCredential> {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`SCRAM iteration count must be a positive integer, got ${iterations}`);
  }
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const salted = await saltedPassword(password, hash, salt, iterations);
  return { hash, salt, iterations, ...keysFrom(hash, salted) };
}

/** SASL PLAIN against a stored credential: recompute StoredKey, compare in constant time. */
export async function verifyPassword(password: string, cred: ScramCredential): Promise<boolean> {
  const salted = await saltedPassword(password, cred.hash, cred.salt, cred.iterations);
  return constantTimeEqual(keysFrom(cred.hash, salted).storedKey, cred.storedKey);
}

/**
 * deriveScramCredential on the calling thread, for worker threads that hash
 * in bulk (the async form would queue on libuv's shared pool instead).
 */
export function deriveScramCredentialSync(password: string, hash: ScramHash, iterations: number, salt: Buffer = randomBytes(DEFAULT_SALT_BYTES)): ScramCredential {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`SCRAM iteration count must be a positive integer, got ${iterations}`);
  }
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const salted = pbkdf2Sync(preparePassword(password), salt, iterations, HASH_BYTES[hash], hash);
  return { hash, salt, iterations, ...keysFrom(hash, salted) };
}

/** verifyPassword on the calling thread. */
export function verifyPasswordSync(password: string, cred: ScramCredential): boolean {
  const salted = pbkdf2Sync(preparePassword(password), cred.salt, cred.iterations, HASH_BYTES[cred.hash], cred.hash);
  return constantTimeEqual(keysFrom(cred.hash, salted).storedKey, cred.storedKey);
}
