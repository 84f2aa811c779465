import { ConfigError, type EnvReader } from './env.js';

/** Operator endpoints and export of one process (libs/telemetry's startTelemetry takes these). */
export interface TelemetryConfig {
  /** Port of /metrics, /livez and /readyz; 0: off. */
  readonly httpPort: number;
  readonly httpHost: string;
  /** OTLP/HTTP base URL for metrics and traces; empty: no OTLP export, no spans recorded. */
  readonly otlpEndpoint: string;
  /** How often metrics are pushed over OTLP. */
  readonly otlpExportIntervalMs: number;
}

export function readTelemetryConfig(env: EnvReader): TelemetryConfig {
  const httpPort = env.int('VIGIL_METRICS_PORT', 0, 'HTTP port of /metrics (Prometheus), /livez and /readyz; 0: off', { min: 0, max: 65535 });
  const httpHost = env.string('VIGIL_METRICS_HOST', '127.0.0.1', 'address of the metrics and probe endpoint (0.0.0.0 in a pod)');
  const otlpEndpoint = env.string('OTEL_EXPORTER_OTLP_ENDPOINT', '', 'OTLP/HTTP collector URL (e.g. http://otel-collector:4318); metrics and traces are exported there when set');
  if (otlpEndpoint !== '' && !/^https?:\/\/[^/\s]+/.test(otlpEndpoint)) {
    throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT', `must be an http:// or https:// URL, got ${JSON.stringify(otlpEndpoint)}`);
  }
  const otlpExportIntervalMs = env.int('OTEL_METRIC_EXPORT_INTERVAL', 15_000, 'milliseconds between OTLP metric exports', { min: 100 });
  return { httpPort, httpHost, otlpEndpoint, otlpExportIntervalMs };
}
