// Measuring aid: was a process's main thread running, or waiting for a core,
// during its longest busy stretches? Samples /proc/PID/task/PID/schedstat
// (time on a CPU, time runnable but waiting for one) every 3 ms while a
// benchmark runs, then prints the busiest 60 ms windows with that split:
//   node bench/tools/main-thread-sched.mjs SECONDS [PATTERN] &
//   VIGIL_CHILD_ECHO=1 VIGIL_CHILD_NODE_ARGS=--trace-gc npm run bench -- grpc --seconds 40
// PATTERN picks the process by its command line (default
// presence-authority/dist/main.js; the first match, waited for up to 60 s).
// A pause that is mostly "run" is work on the thread (a GC pause, say);
// mostly "wait" is another process holding the cores. Linux only. Not part
// of any service.
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const seconds = Number(process.argv[2]);
const pattern = process.argv[3] ?? 'presence-authority/dist/main.js';
if (!(seconds > 0)) throw new Error('usage: main-thread-sched.mjs SECONDS [PATTERN]');

const find = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid).find((d) => {
  try {
    return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(pattern);
  } catch {
    return false;
  }
});
let pid;
for (let i = 0; i < 600 && (pid = find()) === undefined; i++) await sleep(100);
if (pid === undefined) throw new Error(`no process whose command line contains ${pattern}`);
console.log(`pid ${pid}`);

const samples = []; // [monotonic ns, run ns, wait ns]
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8');
  } catch {
    break; // the process ended
  }
  const [run, wait] = text.split(' ').map(Number);
  samples.push([process.hrtime.bigint(), run, wait]);
  await sleep(3);
}
if (samples.length < 2) throw new Error('too few samples');

const t0 = samples[0][0];
const windows = [];
for (let i = 0, j = 0; i < samples.length; i++) {
  while (samples[i][0] - samples[j][0] > 60_000_000n) j++;
  const dt = Number(samples[i][0] - samples[j][0]) / 1e6;
  if (dt < 50) continue;
  const run = (samples[i][1] - samples[j][1]) / 1e6;
  const wait = (samples[i][2] - samples[j][2]) / 1e6;
  windows.push({ at: Number(samples[i][0] - t0) / 1e9, dt, run, wait });
}
windows.sort((a, b) => b.run + b.wait - (a.run + a.wait));
const shown = [];
for (const w of windows) {
  if (shown.some((s) => Math.abs(s.at - w.at) < 0.1)) continue;
  shown.push(w);
  console.log(`+${w.at.toFixed(2)} s: window ${w.dt.toFixed(0)} ms, run ${w.run.toFixed(1)} ms, waiting for a core ${w.wait.toFixed(1)} ms`);
  if (shown.length === 12) break;
}
const last = samples.at(-1);
console.log(`in all ${(Number(last[0] - t0) / 1e9).toFixed(1)} s: run ${((last[1] - samples[0][1]) / 1e9).toFixed(2)} s, waiting ${((last[2] - samples[0][2]) / 1e9).toFixed(2)} s`);
