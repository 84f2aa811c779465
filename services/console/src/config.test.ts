import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@vigil/config';
import { describeConsoleConfig, readConsoleConfig } from './config.js';

test('defaults: loopback port 8080, the dev cluster API, one read a second', () => {
  const c = readConsoleConfig({});
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8080);
  assert.equal(c.grpcServer, '127.0.0.1:50051');
  assert.equal(c.refreshMs, 1000);
});

test('a refresh faster than once a second, or a malformed API address, refuses to start naming the setting', () => {
  assert.throws(() => readConsoleConfig({ VIGIL_CONSOLE_REFRESH_MS: '500' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_CONSOLE_REFRESH_MS');
  assert.throws(() => readConsoleConfig({ VIGIL_CONSOLE_GRPC_SERVER: 'nohost' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_CONSOLE_GRPC_SERVER');
  assert.throws(() => readConsoleConfig({ VIGIL_CONSOLE_PORT: 'eighty' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_CONSOLE_PORT');
});

test('every variable this service reads is documented in docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const missing = describeConsoleConfig().filter((v) => !doc.includes(`\`${v.name}\``));
  assert.deepEqual(missing.map((v) => v.name), []);
});
