import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

/**
 * `size` bytes from the system CSPRNG, like crypto.randomBytes, but drawn
 * from a pool refilled 4 KiB at a time: stream ids, session ids and SCRAM
 * nonces are made several times per login, and each randomBytes call costs
 * a trip into the CSPRNG. Each byte is handed out once. The result is a view
 * into the pool: encode it (toString) or copy it before the next call.
 */
export function pooledRandomBytes(size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if (size > POOL_BYTES) return randomFillSync(Buffer.allocUnsafe(size));
  if (used + size > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    used = 0;
  }
  const out = pool.subarray(used, used + size);
  used += size;
  return out;
}

/** A random token of `bytes` bytes, base64url-encoded. */
export function randomToken(bytes: number): string {
  return pooledRandomBytes(bytes).toString('base64url');
}
