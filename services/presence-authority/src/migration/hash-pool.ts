import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ScramCredential } from '@vigil/xmpp';

/** One plaintext password to turn into SCRAM keys. */
export interface HashJob {
  readonly password: string;
  /** PBKDF2 iterations for new keys (VIGIL_SCRAM_ITERATIONS). */
  readonly iterations: number;
  /** The account's stored keys: when they already verify the password, they are kept. */
  readonly existing?: readonly ScramCredential[];
}

export type HashResult = { readonly keep: true } | { readonly keep: false; readonly credentials: readonly ScramCredential[] };

/** What a worker receives and answers. */
export interface HashChunk {
  readonly id: number;
  readonly jobs: readonly HashJob[];
}
type HashAnswer = { readonly id: number; readonly results: HashResult[] } | { readonly id: number; readonly error: string };

/** Passwords per message to a worker: enough to make messaging cheap, few enough to balance the threads. */
const CHUNK = 16;

export class HashPoolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HashPoolError';
  }
}

/** Threads for an import: VIGIL_IMPORT_HASH_THREADS, or 0 for one per CPU. */
export function hashThreads(configured: number): number {
  return configured > 0 ? configured : availableParallelism();
}

/**
 * Hashes `jobs` on `threads` worker threads (node:worker_threads), so PBKDF2
 * for a bulk import neither blocks the authority's event loop nor queues
 * on libuv's pool that DNS and file I/O share. The threads exist only for
 * the call: they are terminated when it resolves or rejects.
 */
export async function hashAll(jobs: readonly HashJob[], threads: number): Promise<HashResult[]> {
  if (jobs.length === 0) return [];
  const chunks: HashChunk[] = [];
  for (let i = 0; i < jobs.length; i += CHUNK) chunks.push({ id: chunks.length, jobs: jobs.slice(i, i + CHUNK) });
  const results: HashResult[][] = new Array<HashResult[]>(chunks.length);
  const workers = Array.from({ length: Math.max(1, Math.min(threads, chunks.length)) }, () => new Worker(new URL('./hash-worker.js', import.meta.url)));
  try {
    let next = 0;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = (): void => {
              const chunk = chunks[next++];
              if (chunk === undefined) return resolve();
              w.postMessage(chunk);
            };
            w.on('message', (a: HashAnswer) => {
              if ('error' in a) return reject(new HashPoolError(`hashing failed: ${a.error}`));
              results[a.id] = a.results;
              feed();
            });
            w.on('error', (e) => reject(new HashPoolError('a hashing thread failed', { cause: e })));
            w.on('exit', (code) => reject(new HashPoolError(`a hashing thread exited with code ${code}`)));
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results.flat().map(revive);
}

/** Buffers arrive from a worker as plain Uint8Arrays. */
function revive(r: HashResult): HashResult {
  if (r.keep) return r;
  return { keep: false, credentials: r.credentials.map((c) => ({ ...c, salt: Buffer.from(c.salt), storedKey: Buffer.from(c.storedKey), serverKey: Buffer.from(c.serverKey) })) };
}
