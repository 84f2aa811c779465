// Measuring aid: what a process did in its long event-loop turns.
//   node bench/tools/busy-stretches.mjs FILE.cpuprofile [MIN_MS=2] [FROM_S] [TO_S]
// Cuts a --cpu-prof profile (seconds FROM_S..TO_S after its start) into
// stretches of consecutive non-idle samples and, for those of MIN_MS or more,
// counts them by what most of their samples were in (the innermost Vigil
// frame, else a library frame, else GC or "(program)"). Gaps of more than
// 2 ms between samples are counted apart: the process (or its profiler
// thread) was waiting for a core. Use --cpu-prof-interval=200 or finer.
import { readFileSync } from 'node:fs';
const [file, minMsArg, fromS, toS] = process.argv.slice(2);
const minUs = Number(minMsArg ?? 2) * 1000;
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const stackOf = (id) => { const s = []; for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x).callFrame); return s.reverse(); };
const label = (id) => {
  const s = stackOf(id);
  const names = s.map((f) => `${f.functionName || '(anon)'}@${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(services|libs)\//, '$1/').replace(/^node:/, '')}`);
  const top = names[1] ?? names[0];
  if (/^\((idle|program|garbage collector)\)/.test(top)) return top.split('@')[0];
  const vigil = [...names].reverse().find((n) => /services\/|libs\//.test(n));
  const lib = names.find((n) => /grpc-js|nats|http2|opentelemetry/.test(n));
  return `${vigil ?? lib ?? names.slice(1, 4).join(' > ')}`;
};
let t = p.startTime;
const from = fromS ? p.startTime + Number(fromS) * 1e6 : -Infinity, to = toS ? p.startTime + Number(toS) * 1e6 : Infinity;
let cur = null; const stretches = []; let gaps = 0, gapUs = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i]; t += dt;
  if (t < from || t > to) continue;
  if (dt > 2000) { gaps++; gapUs += dt; }
  const id = p.samples[i]; const top = stackOf(id)[1]?.functionName ?? '';
  const idle = top === '(idle)' ;
  if (idle) { if (cur) { stretches.push(cur); cur = null; } continue; }
  if (!cur) cur = { start: t, end: t, labels: new Map() };
  cur.end = t; const l = label(id); cur.labels.set(l, (cur.labels.get(l) ?? 0) + dt);
}
if (cur) stretches.push(cur);
const long = stretches.filter((s) => s.end - s.start >= minUs);
console.log(`${stretches.length} busy stretches, ${long.length} >= ${minUs / 1000} ms; sample gaps > 2 ms: ${gaps} (${(gapUs / 1000).toFixed(0)} ms)`);
const agg = new Map();
for (const s of long) { const dom = [...s.labels].sort((a, b) => b[1] - a[1])[0][0]; const a = agg.get(dom) ?? { n: 0, ms: 0 }; a.n++; a.ms += (s.end - s.start) / 1000; agg.set(dom, a); }
for (const [k, v] of [...agg].sort((a, b) => b[1].n - a[1].n).slice(0, 20)) console.log(`${String(v.n).padStart(5)} stretches ${v.ms.toFixed(0).padStart(6)} ms  ${k}`);
