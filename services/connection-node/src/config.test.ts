import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@vigil/config';
import { describeNodeConfig, readNodeConfig } from './config.js';

test('every variable this service reads is documented in docs/configuration.md', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const missing = describeNodeConfig().filter((v) => !doc.includes(`\`${v.name}\``));
  assert.deepEqual(missing.map((v) => v.name), []);
});

test('a bad value is refused with the variable named', () => {
  assert.throws(() => readNodeConfig({ VIGIL_SHARD_COUNT: 'many' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_SHARD_COUNT');
  assert.throws(() => readNodeConfig({ VIGIL_LOG_LEVEL: 'chatty' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_LOG_LEVEL');
});

test('the XEP-0198 ack timeout defaults to 30 s, may be 0 (off), and refuses values a sweep could not honour', () => {
  assert.equal(readNodeConfig({}).smAckTimeoutMs, 30_000);
  assert.equal(readNodeConfig({ VIGIL_SM_ACK_TIMEOUT_MS: '0' }).smAckTimeoutMs, 0);
  assert.throws(() => readNodeConfig({ VIGIL_SM_ACK_TIMEOUT_MS: '50' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_SM_ACK_TIMEOUT_MS');
  assert.throws(() => readNodeConfig({ VIGIL_SM_ACK_TIMEOUT_MS: '-1' }), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_SM_ACK_TIMEOUT_MS');
});
