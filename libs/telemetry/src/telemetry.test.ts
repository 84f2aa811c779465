import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { counter, createLogger, gauge, histogram, inSpan, setTracingEnabled } from './index.js';
import { startTelemetry } from './sdk.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const a = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (typeof a !== 'object' || a === null) throw new Error('no port');
  return a.port;
}

const quiet = createLogger({ service: 'test' }, { write: () => undefined });

test('the scrape endpoint shows counters, histograms and gauges, and read() the same numbers; /livez and /readyz answer', async () => {
  const port = await freePort();
  const t = await startTelemetry({ serviceName: 'test', instanceId: 't1', httpPort: port, httpHost: '127.0.0.1', otlpEndpoint: '', log: quiet, inProcessReadings: true });
  try {
    assert.equal(t.httpPort, port);
    const things = counter('vigil_test_things', 'things done');
    const took = histogram('vigil_test_duration_seconds', 'how long', [0.1, 1]);
    let level = 7;
    gauge('vigil_test_level', 'a level', (report) => report(level, { node: 'n1' }));
    things.add(2, { kind: 'a' });
    took.record(0.5);
    level = 9;
    const base = `http://127.0.0.1:${port}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^vigil_test_things_total\{kind="a"\} 2$/m);
    assert.match(text, /^vigil_test_duration_seconds_bucket\{le="1"\} 1$/m);
    assert.match(text, /^vigil_test_level\{node="n1"\} 9$/m);
    took.record(3);
    const reading = await t.read();
    assert.deepEqual(reading.counters.get('vigil_test_things'), [{ labels: { kind: 'a' }, value: 2 }]);
    assert.deepEqual(reading.histograms.get('vigil_test_duration_seconds'), [{ labels: {}, boundaries: [0.1, 1], counts: [0, 1, 1], sum: 3.5, count: 2 }]);
    assert.equal(reading.histograms.get('vigil_test_level'), undefined, 'gauges are not read back');
    const again = await (await fetch(`${base}/metrics`)).text();
    assert.match(again, /^vigil_test_duration_seconds_bucket\{le="1"\} 1$/m);
    assert.match(again, /^vigil_test_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
    assert.match(again, /^vigil_test_duration_seconds_sum 3.5$/m);

    assert.equal((await fetch(`${base}/livez`)).status, 200);
    const starting = await fetch(`${base}/readyz`);
    assert.equal(starting.status, 503, 'not ready before the process says what ready means');
    let nats = false;
    t.setReadiness(() => ({ nats, grpc: true }));
    const down = await fetch(`${base}/readyz`);
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: 'not ready', checks: { nats: false, grpc: true } });
    nats = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/livez`, { method: 'POST' })).status, 405);
  } finally {
    await t.stop();
  }
});

test('a log line written inside a span carries its trace and span ids; one outside carries none', async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider());
  setTracingEnabled(true);
  const lines: string[] = [];
  const log = createLogger({ service: 'x' }, { write: (l) => lines.push(l) });
  let ids: { traceId: string; spanId: string } | undefined;
  await inSpan('work', { user: 'alice@localhost' }, async (span) => {
    ids = span.spanContext();
    await Promise.resolve();
    log.info('inside');
  });
  log.info('outside');
  const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(inside?.trace_id, ids?.traceId);
  assert.equal(inside?.span_id, ids?.spanId);
  assert.match(String(inside?.trace_id), /^[0-9a-f]{32}$/);
  assert.equal(outside?.trace_id, undefined);
});

test('a metrics port already taken refuses the start, naming VIGIL_METRICS_PORT and the address', async () => {
  const port = await freePort();
  const taken = await startTelemetry({ serviceName: 'a', instanceId: 'a', httpPort: port, httpHost: '127.0.0.1', otlpEndpoint: '', log: quiet });
  try {
    await assert.rejects(
      startTelemetry({ serviceName: 'b', instanceId: 'b', httpPort: port, httpHost: '127.0.0.1', otlpEndpoint: '', log: quiet }),
      new RegExp(`^Error: VIGIL_METRICS_PORT: cannot listen on 127\\.0\\.0\\.1:${port} \\(.*EADDRINUSE`),
    );
  } finally {
    await taken.stop();
  }
});

test('without exported spans, inSpan runs its function with a span that records nothing', async () => {
  setTracingEnabled(false);
  try {
    const got = await inSpan('work', {}, async (span) => {
      assert.equal(span.isRecording(), false);
      await Promise.resolve();
      return 42;
    });
    assert.equal(got, 42);
    await assert.rejects(inSpan('fails', {}, async () => Promise.reject(new Error('boom'))), /boom/);
  } finally {
    setTracingEnabled(false);
  }
});
