// CPU an idle cluster uses (no sessions): starts the testkit's cluster (NATS,
// one authority, two nodes, the production flags), then prints each
// process's CPU time per second over four 5 s windows.
//   node bench/tools/idle-cpu.mjs      (after `npm run build`)
import { readFileSync } from 'node:fs';
import { Cluster } from '@vigil/testkit';

const WINDOWS = 4;
const WINDOW_MS = 5000;
/** utime + stime of a process in ms (/proc counts 10 ms ticks). */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000 });
try {
  const pids = { node0: cluster.nodes[0].service.pid, node1: cluster.nodes[1].service.pid, authority: cluster.authority.pid, nats: cluster.nats?.process.pid };
  for (let w = 1; w <= WINDOWS; w++) {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const perSecond = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (cpuMs(pid) - before[k]) / (WINDOW_MS / 1000)]));
    console.log(`window ${w}: ms of CPU per second`, JSON.stringify(perSecond));
  }
} finally {
  await cluster.stop();
}
