import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, jemallocEnv } from '@vigil/testkit';

// The authority runs on jemalloc wherever libjemalloc2 is installed, and the
// launcher's LD_PRELOAD (even empty) wins (docs/decisions.md, "jemalloc for
// the authority"). What it really runs on is read from its own ready log line
// (malloc-in-use.ts reads /proc/self/maps), not from the environment we gave.
const READY_MS = 30_000;

async function readyMallocOf(cluster: Cluster): Promise<unknown> {
  const authority = cluster.authorities[0];
  assert.ok(authority !== undefined, 'the cluster has an authority');
  const ready = await authority.waitForLog((r) => r.msg === 'ready', READY_MS, 'authority ready');
  return ready.malloc;
}

describe('the malloc the authority runs on', () => {
  const clusters: Cluster[] = [];
  after(async () => {
    await Promise.all(clusters.map((c) => c.stop()));
  });

  test('jemalloc when the testkit finds it installed, else libc', async () => {
    const cluster = await Cluster.start({ nodes: 1 });
    clusters.push(cluster);
    const expected = (jemallocEnv('presence-authority').LD_PRELOAD ?? '').includes('libjemalloc') ? 'jemalloc' : 'libc';
    assert.equal(await readyMallocOf(cluster), expected);
  });

  test('libc when the launcher sets LD_PRELOAD empty', async () => {
    const cluster = await Cluster.start({ nodes: 1, env: { LD_PRELOAD: '' } });
    clusters.push(cluster);
    assert.equal(await readyMallocOf(cluster), 'libc');
  });
});
