import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, EnvReader, readClusterTimings, readTelemetryConfig } from './index.js';

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

test('telemetry is off by default; a malformed OTLP endpoint or metrics port is refused by name', () => {
  assert.deepEqual(readTelemetryConfig(new EnvReader({})), { httpPort: 0, httpHost: '127.0.0.1', otlpEndpoint: '', otlpExportIntervalMs: 15_000 });
  assert.deepEqual(readTelemetryConfig(new EnvReader({ VIGIL_METRICS_PORT: '9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })), {
    httpPort: 9464, httpHost: '127.0.0.1', otlpEndpoint: 'http://collector:4318', otlpExportIntervalMs: 15_000,
  });
  assert.throws(() => readTelemetryConfig(new EnvReader({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })), /OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/);
  assert.throws(() => readTelemetryConfig(new EnvReader({ VIGIL_METRICS_PORT: '70000' })), /VIGIL_METRICS_PORT: must be <= 65535/);
});
