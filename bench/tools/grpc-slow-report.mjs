// Measuring aid for the grpc scenario: what the slowest GetPresence calls
// overlapped. Run the scenario with the slow calls dumped and every process's
// GC pauses and late timer turns recorded (bench/tools/grpc-timing.mjs):
//   d=$(mktemp -d); VIGIL_GRPC_SLOW_DUMP=$d TMPDIR=$d VIGIL_CHILD_ENV="TMPDIR=$d" \
//     VIGIL_CHILD_NODE_ARGS="--import $PWD/bench/tools/grpc-timing.mjs" \
//     node --import ./bench/tools/grpc-timing.mjs bench/dist/main.js grpc [--seconds 40]
//   node bench/tools/grpc-slow-report.mjs $d [--top 25]
// Groups the calls over 2 ms into episodes (less than 5 ms apart) and lists the
// largest with, per process, the GC pauses (kind:ms; 1 minor, 4 major,
// 8 incremental marking) and late timer turns (ms) that overlapped them.
// Not part of any service.
import { readFileSync, readdirSync } from 'node:fs';
const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const dir = args.find((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));
if (dir === undefined || !Number.isSafeInteger(top) || top < 1) throw new Error('usage: grpc-slow-report.mjs DIR [--top N]');
const files = readdirSync(dir);
// One file per load process (--concurrency N: N of them), merged in time order.
const dumps = files.filter((f) => f.startsWith('vigil-grpc-slow-')).map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
if (dumps.length === 0) throw new Error(`no vigil-grpc-slow-*.json in ${dir}: was VIGIL_GRPC_SLOW_DUMP set?`);
const total = dumps.reduce((n, d) => n + d.total, 0);
const slow = dumps.flatMap((d) => d.slow).sort((a, b) => a[0] - b[0]);
const procs = files.filter((f) => f.startsWith('vigil-grpc-timing-')).map((f) => JSON.parse(readFileSync(`${dir}/${f}`)));
console.log(`${slow.length} of ${total} calls over 2 ms`);
// episodes
const eps = [];
for (const [t, ms] of slow) {
  const e = eps.at(-1);
  const end = t + ms * 1000;
  if (e && t <= e.end + 5000) { e.end = Math.max(e.end, end); e.n++; e.max = Math.max(e.max, ms); }
  else eps.push({ start: t, end, n: 1, max: ms });
}
const t0 = slow[0]?.[0] ?? 0;
const ov = (a0, a1, b0, b1) => a0 < b1 && b0 < a1;
const explain = (e) => procs.map((p) => {
  const g = p.gc.filter((x) => ov(x.at, x.at + x.us, e.start, e.end));
  const l = p.late.filter((x) => ov(x.at, x.at + x.us, e.start, e.end));
  if (!g.length && !l.length) return '';
  return `${p.service}:${p.pid}[gc ${g.map((x) => `${x.kind}:${(x.us / 1000).toFixed(1)}`).join(',')} late ${l.map((x) => (x.us / 1000).toFixed(1)).join(',')}]`;
}).filter(Boolean).join(' ');
eps.sort((a, b) => b.n - a.n);
for (const e of eps.slice(0, top)) console.log(`+${((e.start - t0) / 1e6).toFixed(3)}s ${((e.end - e.start) / 1000).toFixed(1)}ms n=${e.n} max=${e.max} :: ${explain(e)}`);
console.log(`${eps.length} episodes`);
