import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { Cluster, DeadlineError, TestClient, is, xml, mutualContacts, type GrpcAccess } from '@vigil/testkit';

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
  let clusterApi: api.cluster.ClusterServiceClient;

  /** ListNatsServers through the authority's gRPC API. */
  const natsServers = (): Promise<api.cluster.ListNatsServersResponse> => {
    const grpc = cluster.grpc as GrpcAccess;
    const md = new Metadata();
    md.set('authorization', `Bearer ${grpc.readToken}`);
    return new Promise((resolve, reject) => {
      clusterApi.listNatsServers({}, md, { deadline: Date.now() + DEADLINE_MS }, (err: ServiceError | null, res) => (err ? reject(err) : resolve(res)));
    });
  };
  /** host:port of each NATS server of the cluster, in address order. */
  const addresses = (): string[] => cluster.natsUrl.split(',').map((u) => u.replace('nats://', '')).sort();

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, natsServers: 3, grpc: true, readyTimeoutMs: 40_000, echo: process.env.VIGIL_TEST_ECHO === '1' });
    clusterApi = new api.cluster.ClusterServiceClient((cluster.grpc as GrpcAccess).address(0), credentials.createInsecure());
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
    clusterApi?.close();
    await Promise.all([alice?.stop(), bob?.stop()]);
    await cluster?.stop();
  });

  test('the API lists the three NATS servers, configured and announced, each reachable, the one in use marked', async () => {
    const r = await natsServers();
    assert.deepEqual(r.servers.map((s) => s.address), addresses());
    assert.ok(r.servers.every((s) => s.reachable && s.configured && s.error === ''), JSON.stringify(r.servers));
    assert.ok(r.servers.some((s) => s.discovered), 'the servers announce each other (connect_urls)');
    assert.deepEqual(r.servers.map((s) => s.serverName).sort(), ['vigil-1', 'vigil-2', 'vigil-3']);
    assert.equal(r.servers.filter((s) => s.connected).length, 1);
    assert.equal(r.clusterName, 'vigil');
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

  test('the API shows the killed NATS server unreachable and the survivors reachable', async () => {
    const killed = cluster.natsCluster?.servers[0]?.url.replace('nats://', '');
    const deadline = Date.now() + DEADLINE_MS;
    let r = await natsServers();
    // Answers are reused for a second; the authority may still be moving to a survivor.
    while (!(r.servers.find((s) => s.address === killed)?.reachable === false && r.servers.some((s) => s.connected))) {
      if (Date.now() > deadline) throw new DeadlineError(`the killed server shown unreachable (last: ${JSON.stringify(r.servers)})`, DEADLINE_MS);
      await new Promise((resolve) => setTimeout(resolve, 200));
      r = await natsServers();
    }
    assert.deepEqual(r.servers.map((s) => s.address), addresses());
    assert.deepEqual(r.servers.map((s) => [s.address, s.reachable]), addresses().map((a) => [a, a !== killed]));
    assert.match(r.servers.find((s) => s.address === killed)?.error ?? '', /ECONNREFUSED/);
    assert.notEqual(r.servers.find((s) => s.connected)?.address, killed);
  });
});
