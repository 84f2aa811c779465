import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { DataPointType, MetricReader, PeriodicExportingMetricReader, type IMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from './log.js';
import { OpsServer, type ReadinessChecks } from './ops-server.js';
import { setTracingEnabled } from './tracing.js';
import { EMPTY_READING, type CounterReading, type HistogramReading, type Labels, type MetricsReading } from './readings.js';

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
  /**
   * Keep a reader of the process's own instruments, for `read()`: the meter
   * provider is then registered even with no exporter (instruments are no
   * longer no-ops), so an API can serve what /metrics would.
   */
  readonly inProcessReadings?: boolean;
  readonly log: Logger;
}

export interface Telemetry {
  /** The bound port of the HTTP server, undefined when off. */
  readonly httpPort: number | undefined;
  setReadiness(checks: ReadinessChecks): void;
  /**
   * The process's histograms and counters now, from the same aggregation the
   * exporters read (cumulative since the start). Empty unless started with
   * `inProcessReadings`.
   */
  read(): Promise<MetricsReading>;
  /** Flushes exporters and closes the HTTP server. */
  stop(): Promise<void>;
}

export async function startTelemetry(o: TelemetryOptions): Promise<Telemetry> {
  const otlp = o.otlpEndpoint !== '';
  const prometheus = o.httpPort > 0 ? new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true }) : undefined;
  const readers: IMetricReader[] = [];
  if (prometheus) readers.push(prometheus);
  const local = o.inProcessReadings === true ? new InProcessReader() : undefined;
  if (local) readers.push(local);
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
    read: async () => (local ? local.read(o.log) : EMPTY_READING),
    stop: async () => {
      await server?.close();
      await sdk.shutdown().catch((e: unknown) => o.log.warn('telemetry shutdown failed', { err: e }));
    },
  };
}

/**
 * A pull reader nobody exports from: collect() on demand, cumulative like the
 * Prometheus exporter, so both see the same totals.
 */
class InProcessReader extends MetricReader {
  async read(log: Logger): Promise<MetricsReading> {
    const { resourceMetrics, errors } = await this.collect();
    // A failing gauge callback must not hide the histograms; say so once per read.
    if (errors.length > 0) log.warn('some instruments could not be read', { errors: errors.length, err: errors[0] });
    return toReading(resourceMetrics);
  }

  protected override async onShutdown(): Promise<void> {}

  protected override async onForceFlush(): Promise<void> {}
}

const METER = 'vigil';

function labelsOf(attributes: Readonly<Record<string, unknown>>): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) out[k] = String(v);
  return out;
}

/** The SDK's collection → plain readings (histograms and monotonic sums of the `vigil` meter). */
function toReading(rm: ResourceMetrics): MetricsReading {
  const histograms = new Map<string, HistogramReading[]>();
  const counters = new Map<string, CounterReading[]>();
  for (const scope of rm.scopeMetrics) {
    if (scope.scope.name !== METER) continue;
    for (const m of scope.metrics) {
      const name = m.descriptor.name;
      if (m.dataPointType === DataPointType.HISTOGRAM) {
        histograms.set(name, m.dataPoints.map((p) => ({
          labels: labelsOf(p.attributes),
          boundaries: [...p.value.buckets.boundaries],
          counts: [...p.value.buckets.counts],
          sum: p.value.sum ?? 0,
          count: p.value.count,
        })));
      } else if (m.dataPointType === DataPointType.SUM && m.isMonotonic) {
        counters.set(name, m.dataPoints.map((p) => ({ labels: labelsOf(p.attributes), value: p.value })));
      }
    }
  }
  return { histograms, counters };
}

export { type ReadinessChecks } from './ops-server.js';
