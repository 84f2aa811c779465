import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@vigil/config';
import { describeAuthorityConfig, readAuthorityConfig } from './config.js';

test('every variable this service reads is documented in docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const missing = describeAuthorityConfig().filter((v) => !doc.includes(`\`${v.name}\``));
  assert.deepEqual(missing.map((v) => v.name), []);
});

test('a bad value is refused with the variable named', () => {
  assert.throws(() => readAuthorityConfig({ VIGIL_SHARD_COUNT: 'many' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_SHARD_COUNT');
  assert.throws(() => readAuthorityConfig({ VIGIL_LOG_LEVEL: 'chatty' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_LOG_LEVEL');
});

test('gRPC TLS settings: cert and key come together, a client CA needs them, unreadable files are named', () => {
  const refused = (env: Record<string, string>, setting: string) =>
    assert.throws(() => readAuthorityConfig(env), (e: unknown) => e instanceof ConfigError && e.setting === setting, `${setting} named for ${JSON.stringify(env)}`);
  refused({ VIGIL_GRPC_TLS_KEY_FILE: '/nonexistent/key.pem' }, 'VIGIL_GRPC_TLS_CERT_FILE');
  refused({ VIGIL_GRPC_TLS_CERT_FILE: '/nonexistent/cert.pem' }, 'VIGIL_GRPC_TLS_KEY_FILE');
  refused({ VIGIL_GRPC_TLS_CLIENT_CA_FILE: '/nonexistent/ca.pem' }, 'VIGIL_GRPC_TLS_CLIENT_CA_FILE');
  refused({ VIGIL_GRPC_TLS_CERT_FILE: '/nonexistent/cert.pem', VIGIL_GRPC_TLS_KEY_FILE: '/nonexistent/key.pem' }, 'VIGIL_GRPC_TLS_CERT_FILE');
  // A file that is not PEM at all: this test file itself.
  const notPem = new URL(import.meta.url).pathname;
  refused({ VIGIL_GRPC_TLS_CERT_FILE: notPem, VIGIL_GRPC_TLS_KEY_FILE: notPem }, 'VIGIL_GRPC_TLS_CERT_FILE');
  const plain = readAuthorityConfig({});
  assert.equal(plain.grpc.tls, undefined);
  assert.equal(plain.grpc.reflection, false, 'reflection is off by default');
  assert.equal(readAuthorityConfig({ VIGIL_GRPC_REFLECTION: 'true' }).grpc.reflection, true);
});

test('an authority id that is not one NATS KV key token is refused with VIGIL_AUTHORITY_ID named', () => {
  for (const id of ['a.b', 'a*', 'a>', '>', 'a b', ' a', 'a\tb', 'ä', 'a:b', 'a'.repeat(254)]) {
    assert.throws(
      () => readAuthorityConfig({ VIGIL_AUTHORITY_ID: id }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_AUTHORITY_ID' && e.message.includes(JSON.stringify(id)),
      `refused: ${JSON.stringify(id)}`,
    );
  }
  // What the testkit, the dev cluster and the Kubernetes manifests (pod names) give, and the default.
  for (const id of ['authority-1', 'presence-authority-7d9f8b6c4-x2k4q', 'Authority_2', 'a/b=c']) assert.equal(readAuthorityConfig({ VIGIL_AUTHORITY_ID: id }).authorityId, id);
  assert.match(readAuthorityConfig({}).authorityId, /^authority-\d+$/);
});
