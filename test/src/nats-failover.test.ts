import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Cluster, TestClient, is, xml, mutualContacts } from '@vigil/testkit';

// DESIGN.md invariant 3 (no false offline): a NATS server dies, processes
// reconnect to the survivors, replicated buckets keep every write, and no
// live user is announced unavailable.
const DEADLINE_MS = 20_000;
const LEASE_MS = 3000;
const TTL_MS = 3000;

describe('a three-server NATS cluster losing one server', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, natsServers: 3, readyTimeoutMs: 40_000, echo: process.env.VIGIL_TEST_ECHO === '1' });
    await cluster.provision(
      [{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }],
      mutualContacts('alice', 'bob'),
    );
    alice = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'alice', password: 'pw', resource: 'a' });
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'b' });
    await bob.sendPresence();
    await alice.sendPresence();
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice online');
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await cluster?.stop();
  });

  test('killing a NATS server announces nobody unavailable, and presence keeps flowing', async () => {
    const mark = bob.mark();
    const killedAt = performance.now();
    cluster.natsCluster?.servers[0]?.kill();
    // Keep presence flowing, step by step, for longer than a node lease plus a shard-lock TTL and a margin.
    let n = 0;
    while (performance.now() - killedAt < LEASE_MS + TTL_MS + 2000) {
      n++;
      await alice.sendPresence({}, xml('status', {}, `tick ${n}`));
      await bob.expectStanza((s) => is.presenceFrom(alice.jid)(s) && s.getChildText('status') === `tick ${n}`, DEADLINE_MS, `tick ${n}`, mark);
    }
    assert.deepEqual(bob.received.slice(mark.index).filter(is.presenceFrom(alice.jid, 'unavailable')).map(String), [], 'false offline');
    assert.equal(alice.xmpp.status, 'online');
    // Writes acknowledged before and after the kill are all there: the roster answers.
    assert.deepEqual((await bob.rosterGet()).map((i) => i.jid), ['alice@localhost']);
  });
});
