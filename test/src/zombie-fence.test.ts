import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cluster as wire } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import { Cluster, TestClient, contactPairOnline, is, withDeadline, xml } from '@vigil/testkit';

// DESIGN.md invariant 5 (no zombie): an authority that declared a node
// incarnation dead (its heartbeats arrived too late, the node was only slow)
// tells the node, which must end its client streams at once and come back as
// a new incarnation, instead of keeping sessions the cluster announced gone.
const DEADLINE_MS = 20_000;
const S = subjects('vigil');

describe('a node told that its incarnation was declared dead', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, echo: process.env.VIGIL_TEST_ECHO === '1' });
    ({ alice, bob } = await contactPairOnline(cluster, { aliceResource: 'a', bobResource: 'b', timeoutMs: DEADLINE_MS }));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await cluster?.stop();
  });

  /** The incarnation node 1 heartbeats with now. */
  async function currentIncarnation(): Promise<string> {
    const nc = await cluster.connection();
    const sub = nc.subscribe(S.heartbeat(cluster.node(0).nodeId), { max: 1 });
    const next = (async () => {
      for await (const m of sub) return wire.Heartbeat.decode(m.data).incarnation;
      throw new Error('heartbeat subscription ended');
    })();
    return withDeadline(next, DEADLINE_MS, 'a heartbeat of node 1');
  }

  async function retire(incarnation: string): Promise<void> {
    const nc = await cluster.connection();
    const nodeId = cluster.node(0).nodeId;
    nc.publish(S.nodeRetired(nodeId), wire.IncarnationRetired.encode({ nodeId, incarnation, authorityId: 'authority-test' }).finish());
    await nc.flush();
  }

  test('a notice about another incarnation changes nothing', async () => {
    await retire('an-incarnation-long-gone');
    // Presence keeps flowing after the notice: alice's stream is still working.
    await alice.sendPresence({}, xml('status', {}, 'still here'));
    await bob.expectStanza((s) => is.presenceFrom(alice.jid)(s) && s.getChildText('status') === 'still here', DEADLINE_MS, 'presence after the stale notice');
    assert.equal(alice.xmpp.status, 'online');
    assert.equal(cluster.node(0).service.records.filter((r) => r.msg === 'node fenced itself').length, 0);
  });

  test('a notice about its current incarnation: streams end with system-shutdown, contacts are told, a new incarnation heartbeats', async () => {
    const incarnation = await currentIncarnation();
    const mark = bob.mark();
    // Not events.once: it rejects on the 'error' event the stream error itself raises.
    const closed = new Promise<void>((resolve) => alice.xmpp.once('disconnect', () => resolve()));
    await retire(incarnation);
    const fenced = await cluster.node(0).service.waitForLog((r) => r.msg === 'node fenced itself', DEADLINE_MS, 'the node fencing itself');
    assert.equal(fenced.previous, incarnation);
    assert.match(String(fenced.reason), /declared dead by authority-test/);
    await withDeadline(closed, DEADLINE_MS, "alice's stream closing");
    assert.ok(
      alice.errors.some((e) => e instanceof Error && 'condition' in e && e.condition === 'system-shutdown'),
      `alice got <system-shutdown/>; errors: ${alice.errors.map(String).join('; ')}`,
    );
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'alice announced unavailable', mark);
    assert.notEqual(await currentIncarnation(), incarnation, 'the node heartbeats as a new incarnation');
  });
});
