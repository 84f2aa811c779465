import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { subjects } from '@vigil/cluster';
import { Cluster, TestClient, contactPairOnline, is, withDeadline, xml } from '@vigil/testkit';

// DESIGN.md invariant 3 (no false offline): a connection node paused for
// less than its self-fence time keeps its sessions, even when the pause
// covers the moment its next heartbeat fell due, so that on waking the
// last confirmed heartbeat is older than the self-fence time. The timings
// are stretched (heartbeat 2 s, self-fence 3 s, lease 6 s) so that placing
// the pause has 0.8 s of slack on either side on a loaded machine.
const HEARTBEAT_MS = 2000;
const SELF_FENCE_MS = 3000;
const LEASE_MS = 6000;
/** From a heartbeat's arrival to the stop: well before the next one (due 1.8–2 s after it). */
const STOP_AFTER_MS = 1000;
/** Shorter than the self-fence time by 0.8 s; with STOP_AFTER_MS the silence on waking is 3.2 s. */
const PAUSE_MS = 2200;
const DEADLINE_MS = 20_000;
const S = subjects('vigil');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a connection node paused across a heartbeat, for less than the self-fence time', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    cluster = await Cluster.start({
      nodes: 2,
      env: { VIGIL_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS), VIGIL_SELF_FENCE_MS: String(SELF_FENCE_MS), VIGIL_NODE_LEASE_MS: String(LEASE_MS), VIGIL_LOG_LEVEL: 'info' },
      echo: process.env.VIGIL_TEST_ECHO === '1',
    });
    ({ alice, bob } = await contactPairOnline(cluster, { aliceResource: 'a', bobResource: 'b', timeoutMs: DEADLINE_MS }));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await cluster?.stop();
  });

  test('keeps its sessions: no fence, no unavailable, the stream still works', async () => {
    const node = cluster.node(0);
    const nc = await cluster.connection();
    const arrivals: number[] = [];
    let wake: () => void = () => undefined;
    const sub = nc.subscribe(S.heartbeat(node.nodeId), {
      callback: () => {
        arrivals.push(performance.now());
        wake();
      },
    });
    const nextHeartbeat = () => withDeadline(new Promise<void>((resolve) => (wake = resolve)), DEADLINE_MS, `a heartbeat of ${node.nodeId}`);
    try {
      await nextHeartbeat();
      const mark = bob.mark();
      // The pause is the fault injected, placed in time; nothing here waits for an outcome.
      await sleep(STOP_AFTER_MS);
      node.service.signal('SIGSTOP');
      const stopped = performance.now();
      await sleep(PAUSE_MS);
      node.service.signal('SIGCONT');
      const resumed = performance.now();
      await nextHeartbeat();
      const lastBefore = Math.max(...arrivals.filter((t) => t < stopped));
      const firstAfter = Math.min(...arrivals.filter((t) => t >= stopped));
      assert.ok(
        firstAfter >= resumed && firstAfter - lastBefore >= SELF_FENCE_MS && resumed - stopped < SELF_FENCE_MS,
        `the pause (${Math.round(resumed - stopped)} ms) is shorter than the self-fence time and left a heartbeat gap of at least it (${Math.round(firstAfter - lastBefore)} ms)`,
      );
      // alice's stream works after the pause, and bob heard nothing else about her.
      await alice.sendPresence({}, xml('status', {}, 'after the pause'));
      await bob.expectStanza((st) => is.presenceFrom(alice.jid)(st) && st.getChildText('status') === 'after the pause', DEADLINE_MS, "alice's presence after the pause", mark);
      const unavailable = bob.received.slice(mark.index).filter(is.presenceFrom(alice.bareJid, 'unavailable'));
      assert.deepEqual(unavailable.map(String), [], 'bob was told nothing of alice going offline');
      assert.equal(alice.xmpp.status, 'online');
      assert.deepEqual(node.service.records.filter((r) => r.msg === 'node fenced itself'), []);
    } finally {
      sub.unsubscribe();
    }
  });
});
