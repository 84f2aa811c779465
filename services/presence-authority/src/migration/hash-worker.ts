// A worker thread of HashPool: derives or verifies SCRAM keys for a chunk
// of plaintext passwords at a time, with PBKDF2 on this thread.
import { parentPort } from 'node:worker_threads';
import { deriveScramCredentialSync, verifyPasswordSync, type ScramCredential } from '@vigil/xmpp';
import type { HashChunk, HashJob, HashResult } from './hash-pool.js';

const HASHES = ['sha1', 'sha256'] as const;

function run(job: HashJob): HashResult {
  const existing = job.existing ?? [];
  // Both stored hashes were derived from one password together: checking the cheaper one (SHA-1) is enough to keep them.
  const probe = existing.find((c) => c.hash === 'sha1') ?? existing[0];
  const complete = HASHES.every((h) => existing.some((c) => c.hash === h));
  if (probe !== undefined && complete && verifyPasswordSync(job.password, toCredential(probe))) return { keep: true };
  return { keep: false, credentials: HASHES.map((h) => deriveScramCredentialSync(job.password, h, job.iterations)) };
}

const toCredential = (c: ScramCredential): ScramCredential => ({ ...c, salt: Buffer.from(c.salt), storedKey: Buffer.from(c.storedKey), serverKey: Buffer.from(c.serverKey) });

parentPort?.on('message', (chunk: HashChunk) => {
  try {
    parentPort?.postMessage({ id: chunk.id, results: chunk.jobs.map(run) });
  } catch (e) {
    parentPort?.postMessage({ id: chunk.id, error: e instanceof Error ? e.message : String(e) });
  }
});
