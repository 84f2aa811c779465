import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@vigil/config';
import { DEFAULT_TLS_CIPHERS, TlsCredentials, type TlsSettings } from './tls-credentials.js';

let dir: string;

/** A self-signed pair made by openssl (as the test kit and the dev cluster do). */
function pair(name: string, domain = 'example.com'): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain}`], { stdio: 'ignore' });
  return { certFile, keyFile };
}

function settings(files: { certFile: string; keyFile: string }): TlsSettings {
  return { ...files, minVersion: 'TLSv1.2', ciphers: DEFAULT_TLS_CIPHERS };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-tls-unit-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a certificate and its key load; the summary says whether it names the domain', () => {
  const a = pair('a');
  assert.equal(TlsCredentials.load(settings(a), 'example.com').summary.matchesDomain, true);
  assert.equal(TlsCredentials.load(settings(a), 'other.org').summary.matchesDomain, false);
});

test('a key that does not belong to the certificate is refused, naming VIGIL_TLS_KEY_FILE', () => {
  const a = pair('a');
  const b = pair('b');
  assert.throws(
    () => TlsCredentials.load(settings({ certFile: a.certFile, keyFile: b.keyFile }), 'example.com'),
    (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_TLS_KEY_FILE',
  );
});

test('an unreadable file is refused, naming the variable', () => {
  const a = pair('a');
  assert.throws(
    () => TlsCredentials.load(settings({ certFile: join(dir, 'missing.crt'), keyFile: a.keyFile }), 'example.com'),
    (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_TLS_CERT_FILE',
  );
});

test('reload swaps in replaced files, and keeps the old context when the new files are bad', () => {
  const live = pair('live');
  const next = pair('next');
  const credentials = TlsCredentials.load(settings(live), 'example.com');
  const first = credentials.summary.fingerprint256;
  const firstContext = credentials.context;

  writeFileSync(live.keyFile, 'not a key');
  assert.throws(() => credentials.reload(), ConfigError);
  assert.equal(credentials.summary.fingerprint256, first);
  assert.equal(credentials.context, firstContext);

  copyFileSync(next.certFile, live.certFile);
  copyFileSync(next.keyFile, live.keyFile);
  const reloaded = credentials.reload();
  assert.notEqual(reloaded.fingerprint256, first);
  assert.notEqual(credentials.context, firstContext);
});
