import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from './log.js';
import { OpsServer, type ReadinessChecks } from './ops-server.js';
import { setTracingEnabled } from './tracing.js';

/**
 * The OpenTelemetry SDK of one process, started by its main.ts before any
 * instrument is created (libraries only touch the API, STYLE.md 14).
 */
export interface TelemetryOptions {
  readonly serviceName: string;
  /** service.instance.id: the node or authority id. */
  readonly instanceId: string;
  readonly version?: string;
  /** Port of /metrics, /livez and /readyz; 0: no HTTP server (and no Prometheus exporter). */
  readonly httpPort: number;
  readonly httpHost: string;
  /** OTLP/HTTP endpoint for metrics and traces; empty: nothing is exported over OTLP and spans are not recorded. */
  readonly otlpEndpoint: string;
  /** OTLP metric export period. */
  readonly otlpExportIntervalMs?: number;
  readonly log: Logger;
}

export interface Telemetry {
  /** The bound port of the HTTP server, undefined when off. */
  readonly httpPort: number | undefined;
  setReadiness(checks: ReadinessChecks): void;
  /** Flushes exporters and closes the HTTP server. */
  stop(): Promise<void>;
}

export async function startTelemetry(o: TelemetryOptions): Promise<Telemetry> {
  const otlp = o.otlpEndpoint !== '';
  const prometheus = o.httpPort > 0 ? new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true }) : undefined;
  const readers: IMetricReader[] = [];
  if (prometheus) readers.push(prometheus);
  // The OTLP exporters read OTEL_EXPORTER_OTLP_ENDPOINT (and its per-signal variants, headers, …) themselves.
  if (otlp) {
    const interval = o.otlpExportIntervalMs ?? 15_000;
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 10_000) }));
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: o.serviceName,
      [ATTR_SERVICE_VERSION]: o.version ?? '0.1.0',
      'service.instance.id': o.instanceId,
    }),
    // Explicit lists: the SDK's defaults would export to localhost:4318 whatever the configuration says.
    metricReaders: readers,
    spanProcessors: otlp ? [new BatchSpanProcessor(new OTLPTraceExporter())] : [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  setTracingEnabled(otlp);
  const server = o.httpPort > 0
    ? new OpsServer({ host: o.httpHost, port: o.httpPort, log: o.log, ...(prometheus ? { metrics: (req, res) => prometheus.getMetricsRequestHandler(req, res) } : {}) })
    : undefined;
  let httpPort: number | undefined;
  try {
    httpPort = await server?.listen();
  } catch (e) {
    await sdk.shutdown().catch(() => undefined);
    throw new Error(`VIGIL_METRICS_PORT: cannot listen on ${o.httpHost}:${o.httpPort} (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  o.log.info('telemetry started', { http: httpPort !== undefined ? `${o.httpHost}:${httpPort}` : 'off', otlp: otlp ? o.otlpEndpoint : 'off' });
  return {
    httpPort,
    setReadiness: (checks) => server?.setReadiness(checks),
    stop: async () => {
      await server?.close();
      await sdk.shutdown().catch((e: unknown) => o.log.warn('telemetry shutdown failed', { err: e }));
    },
  };
}

export { type ReadinessChecks } from './ops-server.js';
