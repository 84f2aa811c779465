import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Cluster, TestClient, is, xml, mutualContacts } from '@vigil/testkit';

// The crash path end to end: real nats-server, authority and two connection
// nodes as child processes, @xmpp/client as the client.
const LEASE_MS = 3000;
const HEARTBEAT_MS = 1000;
const DEADLINE_MS = 10_000;

describe('walking skeleton: from a crashed client to its contacts', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  const login = (node: number, username: string, resource: string) =>
    TestClient.connect({ port: cluster.node(node).port, domain: cluster.domain, username, password: `${username}-secret`, resource });

  before(async () => {
    cluster = await Cluster.start({
      nodes: 2,
      env: { VIGIL_NODE_LEASE_MS: String(LEASE_MS), VIGIL_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS), VIGIL_LOG_LEVEL: 'info' },
    });
    await cluster.provision(
      ['alice', 'bob', 'carol'].map((u) => ({ username: u, password: `${u}-secret` })),
      mutualContacts('alice', 'bob'),
    );
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((c) => c?.stop()));
    await cluster?.stop();
  });

  test('a stock client logs in on each connection node', async () => {
    alice = await login(0, 'alice', 'phone');
    bob = await login(1, 'bob', 'desk');
    carol = await login(0, 'carol', 'tablet');
    assert.equal(alice.jid, 'alice@localhost/phone');
    assert.equal(bob.jid, 'bob@localhost/desk');
    assert.equal(carol.jid, 'carol@localhost/tablet');
  });

  test('the roster comes from the roster bucket', async () => {
    assert.deepEqual(await alice.rosterGet(), [{ jid: 'bob@localhost', subscription: 'both', name: 'bob' }]);
    assert.deepEqual(await carol.rosterGet(), []);
  });

  test('alice and bob see each other come online across nodes; each gets its own presence back', async () => {
    await carol.sendPresence();
    await carol.expectStanza(is.presenceFrom(carol.jid), DEADLINE_MS, 'her own initial presence');
    await bob.sendPresence({}, xml('show', {}, 'away'));
    await alice.sendPresence({}, xml('status', {}, 'hello'));
    const seenByBob = await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, "alice's initial presence");
    assert.equal(seenByBob.getChildText('status'), 'hello');
    // bob was online first, so alice learns of him through her probe (RFC 6121 §4.3).
    const seenByAlice = await alice.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, "bob's presence in answer to the probe");
    assert.equal(seenByAlice.getChildText('show'), 'away');
  });

  test('a graceful unavailable reaches contacts as sent, and coming back is seen again', async () => {
    const mark = alice.mark();
    await bob.sendPresence({ type: 'unavailable' }, xml('status', {}, 'gone fishing'));
    const gone = await alice.expectStanza(is.presenceFrom(bob.jid, 'unavailable'), DEADLINE_MS, "bob's unavailable", mark);
    assert.equal(gone.getChildText('status'), 'gone fishing');
    await bob.sendPresence();
    await alice.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, 'bob available again', mark);
  });

  test("a client whose socket dies is announced unavailable to its contact on the other node", async () => {
    const mark = bob.mark();
    alice.crash();
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone', 'unavailable'), DEADLINE_MS, 'unavailable from alice/phone', mark);
  });

  test('a connection node killed with SIGKILL: its users\' contacts get unavailable within the lease', async () => {
    alice = await login(0, 'alice', 'laptop');
    let mark = bob.mark();
    await alice.sendPresence();
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice/laptop available', mark);
    mark = bob.mark();
    const killedAt = performance.now();
    cluster.node(0).service.signal('SIGKILL');
    await bob.expectStanza(is.presenceFrom('alice@localhost/laptop', 'unavailable'), LEASE_MS + DEADLINE_MS, 'unavailable after node-1 died', mark);
    const elapsed = performance.now() - killedAt;
    // The lease, plus one heartbeat of phase and the authority's check period, plus slack for a loaded CI machine.
    assert.ok(elapsed < LEASE_MS + HEARTBEAT_MS + 3000, `took ${Math.round(elapsed)} ms`);
    assert.ok(elapsed >= LEASE_MS - HEARTBEAT_MS, `announced before the lease could have run out (${Math.round(elapsed)} ms)`);
  });

  test('carol, nobody\'s contact, never received any presence of alice or bob', () => {
    assert.ok(carol.presencesFrom('carol@localhost').length > 0, 'carol was receiving stanzas');
    assert.deepEqual(carol.presencesFrom('alice@localhost').map(String), []);
    assert.deepEqual(carol.presencesFrom('bob@localhost').map(String), []);
  });

  test('the presence unavailable from each dead resource reached bob exactly once', () => {
    for (const resource of ['alice@localhost/phone', 'alice@localhost/laptop']) {
      const copies = bob.received.filter(is.presenceFrom(resource, 'unavailable'));
      assert.equal(copies.length, 1, `${resource}: ${copies.length} copies`);
    }
  });
});
