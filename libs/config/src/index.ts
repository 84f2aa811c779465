export { ConfigError, type Env, EnvReader } from './env.js';
export { type ClusterTimings, readClusterTimings, validateTimings, natsConnectionTuning } from './timings.js';
export { type TelemetryConfig, readTelemetryConfig } from './telemetry.js';
