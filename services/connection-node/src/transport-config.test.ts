import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@vigil/config';
import { readNodeConfig } from './config.js';

const CERT = { VIGIL_TLS_CERT_FILE: '/etc/vigil/cert.pem', VIGIL_TLS_KEY_FILE: '/etc/vigil/key.pem' };

function refusedFor(setting: string) {
  return (e: unknown) => e instanceof ConfigError && e.setting === setting;
}

test('without a certificate there is no TLS, and STARTTLS is not required', () => {
  const config = readNodeConfig({});
  assert.equal(config.tls, undefined);
  assert.equal(config.tlsRequired, false);
  assert.equal(config.c2sTlsPort, 0);
  assert.equal(config.wsPort, 0);
  assert.equal(config.wsPath, '/xmpp-websocket');
});

test('with a certificate STARTTLS is required unless VIGIL_TLS_REQUIRED says otherwise', () => {
  const config = readNodeConfig(CERT);
  assert.equal(config.tlsRequired, true);
  assert.equal(config.tls?.minVersion, 'TLSv1.2');
  assert.equal(readNodeConfig({ ...CERT, VIGIL_TLS_REQUIRED: 'false' }).tlsRequired, false);
});

test('TLS settings that need a certificate are refused without one', () => {
  assert.throws(() => readNodeConfig({ VIGIL_TLS_REQUIRED: 'true' }), refusedFor('VIGIL_TLS_REQUIRED'));
  assert.throws(() => readNodeConfig({ VIGIL_C2S_TLS_PORT: '5223' }), refusedFor('VIGIL_C2S_TLS_PORT'));
  assert.throws(() => readNodeConfig({ VIGIL_WS_PORT: '5280', VIGIL_WS_TLS: 'true' }), refusedFor('VIGIL_WS_TLS'));
});

test('a certificate without its key (or the reverse) is refused', () => {
  assert.throws(() => readNodeConfig({ VIGIL_TLS_CERT_FILE: '/etc/vigil/cert.pem' }), refusedFor('VIGIL_TLS_KEY_FILE'));
  assert.throws(() => readNodeConfig({ VIGIL_TLS_KEY_FILE: '/etc/vigil/key.pem' }), refusedFor('VIGIL_TLS_CERT_FILE'));
});

test('TLS versions older than 1.2 and odd values are refused', () => {
  assert.throws(() => readNodeConfig({ ...CERT, VIGIL_TLS_MIN_VERSION: 'TLSv1.1' }), refusedFor('VIGIL_TLS_MIN_VERSION'));
  assert.equal(readNodeConfig({ ...CERT, VIGIL_TLS_MIN_VERSION: 'TLSv1.3' }).tls?.minVersion, 'TLSv1.3');
  assert.throws(() => readNodeConfig({ ...CERT, VIGIL_TLS_REQUIRED: 'sometimes' }), refusedFor('VIGIL_TLS_REQUIRED'));
  assert.throws(() => readNodeConfig({ VIGIL_WS_PATH: 'xmpp' }), refusedFor('VIGIL_WS_PATH'));
});

test('STARTTLS can be left off the plain port (TLS on the direct port only), but not while it is required', () => {
  const config = readNodeConfig({ ...CERT, VIGIL_TLS_REQUIRED: 'false', VIGIL_STARTTLS: 'false', VIGIL_C2S_TLS_PORT: '5322' });
  assert.equal(config.startTls, false);
  assert.equal(config.c2sTlsPort, 5322);
  assert.equal(readNodeConfig(CERT).startTls, true);
  assert.throws(() => readNodeConfig({ ...CERT, VIGIL_STARTTLS: 'false' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_STARTTLS');
});
