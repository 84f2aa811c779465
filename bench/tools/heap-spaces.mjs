// Measuring aid, preloaded into the services a bench starts:
//   VIGIL_CHILD_NODE_ARGS="--import $PWD/bench/tools/heap-spaces.mjs" npm run bench -- memory
// Each child samples, once a second, its RSS and the size of each V8 heap
// space (reserved, used, resident), and writes the series at exit to the OS
// temp directory (VIGIL_CHILD_ENV="TMPDIR=DIR" picks another) as
// vigil-heap-spaces-<pid>-<service>.json. Shows where a process's RSS goes:
// young generation (new_space), old space's free slack, or outside the heap.
// Not part of any service.
import { getHeapSpaceStatistics } from 'node:v8';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const MB = 1024 * 1024;
const round = (b) => Math.round((b / MB) * 10) / 10;
const samples = [];
function sample() {
  const m = process.memoryUsage();
  const spaces = {};
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_size === 0) continue;
    spaces[s.space_name] = { size: round(s.space_size), used: round(s.space_used_size), resident: round(s.physical_space_size) };
  }
  samples.push({ atMs: Math.round(performance.now()), rss: round(m.rss), heapTotal: round(m.heapTotal), heapUsed: round(m.heapUsed), external: round(m.external), spaces });
}
setInterval(sample, 1000).unref();

const service = (process.argv[process.argv.length - 1] ?? '').split('/').slice(-3, -2)[0] ?? 'node';
let written = false;
function write() {
  if (written) return;
  written = true;
  sample();
  writeFileSync(join(tmpdir(), `vigil-heap-spaces-${process.pid}-${service}.json`), JSON.stringify({ service, argv: process.execArgv, samples }));
}
process.on('exit', write);
for (const signal of ['SIGTERM', 'SIGINT']) process.prependListener(signal, write);
