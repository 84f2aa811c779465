// Measuring aid, preloaded into the services a bench starts:
//   VIGIL_CHILD_NODE_ARGS="--import $PWD/bench/tools/loop-delay.mjs" npm run bench -- grpc
// Each child records its event-loop delay (max and p99 per second) and every
// garbage-collection pause, and writes them at exit to the OS temp
// directory as vigil-loop-delay-<pid>-<service>.json. Not part of any service.
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
const pauses = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pauses.push({ atMs: Math.round(e.startTime), ms: Number(e.duration.toFixed(2)), kind: e.detail?.kind ?? 0 });
}).observe({ entryTypes: ['gc'] });
const seconds = [];
setInterval(() => {
  seconds.push({ atMs: Math.round(performance.now()), maxMs: Number((histogram.max / 1e6).toFixed(1)), p99Ms: Number((histogram.percentile(99) / 1e6).toFixed(2)) });
  histogram.reset();
}, 1000).unref();

const service = (process.argv[process.argv.length - 1] ?? '').split('/').slice(-3, -2)[0] ?? 'node';
let written = false;
function write() {
  if (written) return;
  written = true;
  const file = join(tmpdir(), `vigil-loop-delay-${process.pid}-${service}.json`);
  const gcMs = pauses.reduce((n, p) => n + p.ms, 0);
  writeFileSync(file, JSON.stringify({ service, seconds, gc: { count: pauses.length, totalMs: Math.round(gcMs), over2Ms: pauses.filter((p) => p.ms > 2) } }));
}
process.on('exit', write);
for (const signal of ['SIGTERM', 'SIGINT']) process.prependListener(signal, write);
