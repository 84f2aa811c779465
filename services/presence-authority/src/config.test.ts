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
