import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class OpensslNotFoundError extends Error {
  constructor() {
    super('openssl not found on PATH: install it (Debian: apt-get install openssl) to create TLS certificates');
    this.name = 'OpensslNotFoundError';
  }
}

export interface SelfSignedCertOptions {
  /** The XMPP domain the certificate names (subject CN and DNS subjectAltName). */
  readonly domain: string;
  /** Where cert.pem and key.pem go; a fresh temp dir (removed by remove()) when absent. */
  readonly dir?: string;
  readonly days?: number;
}

export interface SelfSignedCert {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate in PEM, to trust it (TestClient's `ca`). */
  readonly certPem: string;
  /** As node:tls reports it (getPeerCertificate().fingerprint256). */
  readonly fingerprint256: string;
  /** Deletes the files, and the directory if this call created it. */
  remove(): Promise<void>;
}

/**
 * A throwaway self-signed certificate and private key (ECDSA P-256) made by
 * the openssl CLI. For tests and the local dev cluster only: the key is
 * written unencrypted, 0600, and never belongs in the repository.
 */
export async function createSelfSignedCert(options: SelfSignedCertOptions): Promise<SelfSignedCert> {
  if (!/^[A-Za-z0-9.-]+$/.test(options.domain)) throw new RangeError(`not a domain name: ${options.domain}`);
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'vigil-tls-')));
  await mkdir(dir, { recursive: true });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', String(options.days ?? 2),
    '-subj', `/CN=${options.domain}`, '-addext', `subjectAltName=DNS:${options.domain}`,
  ]);
  await chmod(keyFile, 0o600);
  const certPem = await readFile(certFile, 'utf8');
  return {
    dir,
    certFile,
    keyFile,
    certPem,
    fingerprint256: new X509Certificate(certPem).fingerprint256,
    remove: async () => {
      await rm(ownsDir ? dir : certFile, { recursive: true, force: true });
      if (!ownsDir) await rm(keyFile, { force: true });
    },
  };
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new OpensslNotFoundError());
      reject(new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim() || err.message}`));
    });
  });
}
