// Measuring aid for the grpc scenario: where a GetPresence call spends its time.
// Preload it into the load generator and the services:
//   VIGIL_CHILD_NODE_ARGS="--import $PWD/bench/tools/grpc-timing.mjs" \
//     node --import ./bench/tools/grpc-timing.mjs bench/dist/main.js grpc
// In a gRPC client process it stamps every HTTP/2 request with the wall-clock
// time it was created (header x-bench-t, microseconds) and notes when the
// response's headers and trailers arrived; in a gRPC server process it notes,
// for each stream, when the 'stream' event ran and when the trailers were
// asked for (the answer leaves). Every process also notes its GC pauses and
// its late timer turns (a 5 ms timer chain; lateness > 2 ms), all on one
// wall clock (performance.timeOrigin + performance.now(), microseconds), and
// writes them at exit to the OS temp directory as
// vigil-grpc-timing-<pid>-<service>.json. `node bench/tools/grpc-timing-report.mjs`
// joins the files. Not part of any service; the header costs each call a few bytes.
import http2 from 'node:http2';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';

const origin = performance.timeOrigin;
const nowUs = () => Math.round((origin + performance.now()) * 1000);
const HEADER = 'x-bench-t';
const MAX = 200_000;

const serverStreams = [];
const clientStreams = [];
const gc = [];
const late = [];

function watchServer(server) {
  server.prependListener('stream', (stream, headers) => {
    if (serverStreams.length >= MAX) return;
    const rec = { t: Number(headers[HEADER] ?? 0), arrive: nowUs(), trailers: 0, path: headers[':path'] };
    serverStreams.push(rec);
    stream.prependListener('wantTrailers', () => {
      rec.trailers = nowUs();
    });
  });
  return server;
}

for (const name of ['createServer', 'createSecureServer']) {
  const original = http2[name];
  http2[name] = (...args) => watchServer(original(...args));
}
const originalConnect = http2.connect;
http2.connect = (...args) => {
  const session = originalConnect(...args);
  const request = session.request.bind(session);
  session.request = (headers, options) => {
    const t = nowUs();
    const stream = request({ ...headers, [HEADER]: String(t) }, options);
    if (clientStreams.length < MAX) {
      const rec = { t, response: 0, trailers: 0, path: headers[':path'] };
      clientStreams.push(rec);
      stream.once('response', () => {
        rec.response = nowUs();
      });
      stream.once('trailers', () => {
        rec.trailers = nowUs();
      });
    }
    return stream;
  };
  return session;
};
syncBuiltinESMExports();

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gc.push({ at: Math.round((origin + e.startTime) * 1000), us: Math.round(e.duration * 1000), kind: e.detail?.kind ?? 0 });
}).observe({ entryTypes: ['gc'] });

const PERIOD_MS = 5;
let expected = performance.now() + PERIOD_MS;
const tick = () => {
  const now = performance.now();
  const lateness = now - expected;
  if (lateness > 2 && late.length < MAX) late.push({ at: Math.round((origin + expected) * 1000), us: Math.round(lateness * 1000) });
  expected = now + PERIOD_MS;
  setTimeout(tick, PERIOD_MS).unref();
};
setTimeout(tick, PERIOD_MS).unref();

const service = (process.argv[process.argv.length - 1] ?? '').split('/').slice(-3, -2)[0] ?? 'node';
let written = false;
function write() {
  if (written) return;
  written = true;
  if (serverStreams.length === 0 && clientStreams.length === 0 && gc.length === 0) return;
  const file = join(tmpdir(), `vigil-grpc-timing-${process.pid}-${service}.json`);
  writeFileSync(file, JSON.stringify({ service, pid: process.pid, serverStreams, clientStreams, gc, late }));
}
process.on('exit', write);
for (const signal of ['SIGTERM', 'SIGINT']) process.prependListener(signal, write);
