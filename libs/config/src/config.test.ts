import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, EnvReader, readClusterTimings } from './index.js';

test('defaults satisfy the timing inequalities', () => {
  const t = readClusterTimings(new EnvReader({}));
  assert.deepEqual(t, { heartbeatIntervalMs: 1000, nodeLeaseMs: 3000, selfFenceMs: 2000, shardLockTtlMs: 3000, natsDiscovery: true });
});

test('a lease shorter than three heartbeats is refused, naming the setting', () => {
  assert.throws(
    () => readClusterTimings(new EnvReader({ VIGIL_HEARTBEAT_INTERVAL_MS: '1500' })),
    (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_NODE_LEASE_MS',
  );
});

test('a self-fence time not below the lease is refused', () => {
  assert.throws(
    () => readClusterTimings(new EnvReader({ VIGIL_SELF_FENCE_MS: '3000' })),
    (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_SELF_FENCE_MS',
  );
});

test('malformed numbers and booleans name their variable', () => {
  const env = new EnvReader({ A: '12x', B: 'maybe' });
  assert.throws(() => env.int('A', 1, 'a'), /A: expected an integer/);
  assert.throws(() => env.bool('B', true, 'b'), /B: expected true or false/);
  assert.throws(() => new EnvReader({ C: '5' }).int('C', 1, 'c', { max: 4 }), /C: must be <= 4/);
});
