// Heap snapshots of the authority before and after N idle sessions (the
// memory scenario's population: SCRAM-SHA-256 logins over two nodes, empty
// rosters), to see what each session holds:
//   npm run build && node bench/tools/authority-heap-snapshot.mjs [sessions, default 10000] [dir, default OS temp]
//   node bench/tools/heap-diff.mjs DIR/before.heapsnapshot DIR/after.heapsnapshot --per 10000
// A snapshot collects garbage first, so both are the live heap.
import { mkdtempSync, readdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '@vigil/testkit';
import { loginIdle, primeClientKeys, provisionPairs } from '../dist/scenarios/population.js';

const sessions = Number(process.argv[2] ?? 10_000);
if (!Number.isSafeInteger(sessions) || sessions < 1) throw new RangeError(`sessions must be an integer ≥ 1, got ${process.argv[2]}`);
const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'vigil-authority-heap-'));
process.env.VIGIL_CHILD_NODE_ARGS = `${process.env.VIGIL_CHILD_NODE_ARGS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = await Cluster.start({ nodes: 2, readyTimeoutMs: 60_000 });
const clients = [];
const pid = cluster.authority.pid ?? 0;
/** Signals the authority and waits until its snapshot file stops growing; renames it to `name`. */
async function snapshot(name) {
  const mine = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
  const seen = new Set(mine());
  process.kill(pid, 'SIGUSR2');
  let last = -1;
  for (let i = 0; i < 1200; i++) {
    await sleep(250);
    const file = mine().find((f) => !seen.has(f));
    if (file === undefined) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === last) {
      renameSync(join(dir, file), join(dir, name));
      return join(dir, name);
    }
    last = size;
  }
  throw new Error('the authority did not write its heap snapshot within 5 minutes');
}
try {
  await provisionPairs(cluster, { a: 'unused', b: 'unused', lone: 'm' }, 0, sessions);
  await primeClientKeys(cluster, Array.from({ length: sessions }, (_, j) => `m${j}`), 'SCRAM-SHA-256');
  await sleep(5000);
  const before = await snapshot('before.heapsnapshot');
  await loginIdle(cluster, 'm', sessions, 'SCRAM-SHA-256', clients);
  await sleep(5000);
  const after = await snapshot('after.heapsnapshot');
  const live = clients.filter((c) => c.phase === 'live').length;
  console.log(`authority, ${live} idle sessions: ${before} ${after}`);
  console.log(`node bench/tools/heap-diff.mjs ${before} ${after} --per ${live}`);
} finally {
  for (const c of clients) c.destroy();
  await cluster.stop();
}
