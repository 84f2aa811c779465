// The authority's live heap per idle session (what RSS only bounds):
//   npm run build && node bench/tools/authority-heap.mjs [sessions, default 10000]
// The same population as the memory scenario (SCRAM-SHA-256 logins over two
// nodes, empty rosters); the authority collects garbage before each reading
// (heap-after-gc.mjs). Prints heap used before and after the logins, and the
// RSS growth the memory scenario would report.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from '@vigil/testkit';
import { loginIdle, primeClientKeys, provisionPairs } from '../dist/scenarios/population.js';
import { rss } from '../dist/scenarios/process-stats.js';

const sessions = Number(process.argv[2] ?? 10_000);
if (!Number.isSafeInteger(sessions) || sessions < 1) throw new RangeError(`sessions must be an integer ≥ 1, got ${process.argv[2]}`);
const dir = tmpdir();
const here = dirname(fileURLToPath(import.meta.url));
process.env.VIGIL_CHILD_NODE_ARGS = `--expose-gc --import ${join(here, 'heap-after-gc.mjs')}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000 });
const clients = [];
const pid = cluster.authority.pid ?? 0;
async function liveHeap() {
  const mine = () => readdirSync(dir).filter((f) => f.startsWith(`vigil-heap-${pid}-`));
  const seen = new Set(mine());
  process.kill(pid, 'SIGWINCH');
  for (let i = 0; i < 200; i++) {
    const file = mine().find((f) => !seen.has(f));
    if (file !== undefined) {
      await sleep(50);
      const reading = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      rmSync(join(dir, file), { force: true });
      return reading.after.heapUsed;
    }
    await sleep(50);
  }
  throw new Error('the authority did not write its heap reading within 10 s');
}
try {
  await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'm' }, 0, sessions);
  await primeClientKeys(cluster, Array.from({ length: sessions }, (_, j) => `m${j}`), 'SCRAM-SHA-256');
  await sleep(5000);
  const rss0 = rss(pid);
  const heap0 = await liveHeap();
  await loginIdle(cluster, 'm', sessions, 'SCRAM-SHA-256', clients);
  await sleep(5000);
  const rss1 = rss(pid);
  const heap1 = await liveHeap();
  const live = clients.filter((c) => c.phase === 'live').length;
  const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
  console.log(`authority, ${live} idle sessions: live heap ${mb(heap0)} → ${mb(heap1)}, ${Math.round((heap1 - heap0) / live)} B per session; RSS ${mb(rss0)} → ${mb(rss1)}, ${Math.round((rss1 - rss0) / live)} B per session`);
} finally {
  for (const c of clients) c.destroy();
  await cluster.stop();
}
