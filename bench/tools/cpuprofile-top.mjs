#!/usr/bin/env node
// Where a V8 CPU profile (`node --cpu-prof`, or VIGIL_CHILD_NODE_ARGS="--cpu-prof
// --cpu-prof-dir=DIR" for every service a bench starts) spent its busy time:
// self time by function, and the share of garbage collection, idle and
// program time. `--last-ms N` keeps only the samples of the last N ms before
// the profile ended (the fan-out scenarios end right after their fault, so
// the setup's logins fall out); `--from-us A --to-us B` keeps a window of
// the monotonic clock (CLOCK_MONOTONIC in µs, the profile's own clock and
// `process.hrtime`'s: the fan-out scenarios print theirs on stderr);
// `--top N` rows (default 25); `--inclusive` also lists time with callees.
//
//   node bench/tools/cpuprofile-top.mjs DIR/CPU.*.cpuprofile [--last-ms 4000 | --from-us A --to-us B] [--top 40]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'last-ms': { type: 'string' }, 'from-us': { type: 'string' }, 'to-us': { type: 'string' }, top: { type: 'string' }, inclusive: { type: 'boolean' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: cpuprofile-top.mjs FILE.cpuprofile… [--last-ms N] [--top N]\n');
  process.exit(2);
}
const top = Number(values.top ?? 25);
const lastMs = values['last-ms'] === undefined ? Infinity : Number(values['last-ms']);

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (node) => {
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|services|libs)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const inclusive = new Map();
  // Sample i was taken at startTime + sum(timeDeltas[0..i]) µs and stands for the time since the previous one.
  const times = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) times.push((t += d));
  const from = values['from-us'] !== undefined ? Number(values['from-us']) : p.endTime - lastMs * 1000;
  const to = values['to-us'] !== undefined ? Number(values['to-us']) : Infinity;
  const self = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    if (times[i] < from || times[i] > to) continue;
    const dt = (times[i] - (times[i - 1] ?? p.startTime)) / 1000;
    const node = byId.get(p.samples[i]);
    const key = nameOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    if (values.inclusive) {
      const onStack = new Set();
      for (let id = node.id; id !== undefined; id = parent.get(id)) onStack.add(nameOf(byId.get(id)));
      for (const k of onStack) inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
    total += dt;
  }
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  process.stdout.write(`${file}\n  window ${total.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (${((busy / total) * 100).toFixed(1)} %)\n`);
  const rows = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, ms] of rows) process.stdout.write(`  ${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${ms.toFixed(1).padStart(8)} ms  ${k}\n`);
  if (values.inclusive) {
    process.stdout.write('  with callees:\n');
    const skip = new Set(['(root)', '(idle)', '(program)', '(garbage collector)']);
    const inc = [...inclusive.entries()].filter(([k]) => !skip.has(k)).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [k, ms] of inc) process.stdout.write(`  ${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${ms.toFixed(1).padStart(8)} ms  ${k}\n`);
  }
}
