// Measuring aid: where the objects that outlive a scavenge are allocated.
// Preloaded into the services a bench starts:
//   VIGIL_CHILD_NODE_ARGS="--import $PWD/bench/tools/promoted-alloc.mjs" \
//   VIGIL_CHILD_ENV="TMPDIR=DIR VIGIL_PROMOTED_FROM_MS=6000 VIGIL_PROMOTED_TO_MS=14000" npm run bench -- grpc
// From VIGIL_PROMOTED_FROM_MS to VIGIL_PROMOTED_TO_MS after the process
// started, V8's sampling heap profiler records allocations that survive the
// young generation's collections (objects a scavenge frees are left out;
// objects a full collection frees are kept), then writes the profile as
// DIR/vigil-promoted-<pid>-<service>.heapprofile (Chrome DevTools format) and
// prints the top allocation sites by bytes with
//   node bench/tools/promoted-alloc.mjs FILE [--top N]
// Not part of any service.
import { Session } from 'node:inspector';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const report = (file, top) => {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const sites = new Map();
  const ours = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const f = node.callFrame;
    const here = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(services|libs)\//, '$1/')}:${f.lineNumber + 1}`;
    const s = [...stack, here];
    if (node.selfSize > 0) {
      total += node.selfSize;
      sites.set(here, (sites.get(here) ?? 0) + node.selfSize);
      const mine = [...s].reverse().find((x) => x.includes('services/') || x.includes('libs/')) ?? '(no Vigil frame)';
      ours.set(mine, (ours.get(mine) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, s.length > 60 ? s.slice(-60) : s);
  };
  walk(profile.head, []);
  const print = (title, m) => {
    console.log(title);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(v / 1024).toFixed(0).padStart(8)} KB  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
  };
  console.log(`${(total / 1048576).toFixed(1)} MB sampled as surviving a scavenge`);
  print('by allocating function:', sites);
  print('by the innermost Vigil frame on the stack:', ours);
};

if (process.argv[1]?.endsWith('promoted-alloc.mjs') && process.argv[2] !== undefined) {
  const i = process.argv.indexOf('--top');
  report(process.argv[2], i > 0 ? Number(process.argv[i + 1]) : 25);
} else {
  const from = Number(process.env.VIGIL_PROMOTED_FROM_MS ?? 6000);
  const to = Number(process.env.VIGIL_PROMOTED_TO_MS ?? 14000);
  const service = (process.argv[process.argv.length - 1] ?? '').split('/').slice(-3, -2)[0] ?? 'node';
  const session = new Session();
  session.connect();
  setTimeout(() => {
    session.post('HeapProfiler.enable', () => {
      session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false }, (err) => {
        if (err) process.stderr.write(`promoted-alloc: ${err.message}\n`);
      });
    });
    setTimeout(() => {
      session.post('HeapProfiler.stopSampling', (err, r) => {
        if (err) return process.stderr.write(`promoted-alloc: ${err.message}\n`);
        writeFileSync(join(tmpdir(), `vigil-promoted-${process.pid}-${service}.heapprofile`), JSON.stringify(r.profile));
      });
    }, to - from).unref();
  }, from).unref();
}
