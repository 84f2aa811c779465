import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { api, health } from '@vigil/proto';
import { Cluster, DeadlineError, RawConnection, TestClient, clientStreamHeader, is, mutualContacts, probe, scrapeMetrics, type MetricsScrape } from '@vigil/testkit';

// Operators' view of a running cluster: the /metrics, /livez and /readyz every process serves
// (issue 9). Numbers must move when something happens, and readiness must mean "can do its job now".
const DEADLINE_MS = 15_000;

/** Scrapes `url` until `check` holds (metrics are read at scrape time; no event says when they changed). */
async function until(url: string, what: string, check: (m: MetricsScrape) => boolean): Promise<MetricsScrape> {
  const deadline = Date.now() + DEADLINE_MS;
  let last: MetricsScrape | undefined;
  for (let i = 0; Date.now() < deadline && i < 1000; i++) {
    last = await scrapeMetrics(url);
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new DeadlineError(`${what} (last scrape: ${JSON.stringify(last?.samples.filter((s) => s.name.startsWith('vigil_')).slice(0, 60))})`, DEADLINE_MS);
}

async function untilProbe(url: string, path: '/livez' | '/readyz', expected: number): Promise<unknown> {
  const deadline = Date.now() + DEADLINE_MS;
  let last: { status: number; body: unknown } | undefined;
  for (let i = 0; Date.now() < deadline && i < 1000; i++) {
    last = await probe(url, path);
    if (last.status === expected) return last.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new DeadlineError(`${url}${path} to answer ${expected} (last: ${JSON.stringify(last)})`, DEADLINE_MS);
}

describe('telemetry of a running cluster', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;
  let nodeUrl: (i: number) => string;
  let authorityUrl: string;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, metrics: true, grpc: true });
    await cluster.provision(['alice', 'bob'].map((u) => ({ username: u, password: `${u}-secret` })), mutualContacts('alice', 'bob'));
    nodeUrl = (i) => cluster.node(i).metricsUrl ?? assert.fail('node without a metrics URL');
    authorityUrl = cluster.authorityMetricsUrls[0] ?? assert.fail('authority without a metrics URL');
  });

  after(async () => {
    await Promise.all([alice, bob].map((c) => c?.stop()));
    await cluster?.stop();
  });

  test('every process is alive and ready once started, and says why', async () => {
    for (const url of [nodeUrl(0), nodeUrl(1), authorityUrl]) {
      assert.equal((await probe(url, '/livez')).status, 200, `${url}/livez`);
      await untilProbe(url, '/readyz', 200);
    }
    assert.deepEqual((await probe(nodeUrl(0), '/readyz')).body, { status: 'ready', checks: { accepting: true, nats: true, heartbeat: true } });
    assert.deepEqual((await probe(authorityUrl, '/readyz')).body, { status: 'ready', checks: { nats: true, grpc: true } });
  });

  test('logins and sessions show on the node and, per node, on the authority', async () => {
    alice = await TestClient.connect({ port: cluster.node(0).port, domain: cluster.domain, username: 'alice', password: 'alice-secret', resource: 'phone' });
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: cluster.domain, username: 'bob', password: 'bob-secret', resource: 'desk' });
    await bob.sendPresence();
    await alice.sendPresence();
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, "alice's presence");
    const node = await until(nodeUrl(0), 'node-1 counts alice', (m) => m.value('vigil_node_sessions', { node: 'node-1' }) === 1);
    assert.equal(node.value('vigil_node_logins_total'), 1);
    assert.equal(node.value('vigil_node_login_duration_seconds_count'), 1);
    assert.equal(node.value('vigil_nats_connected'), 1);
    // A shard lock write can lose a round to a busy JetStream and be taken on the next: wait for all of them.
    const auth = await until(authorityUrl, 'a session on each node, two leases, every shard owned by the single replica', (m) =>
      m.value('vigil_authority_sessions', { node: 'node-1' }) === 1 && m.value('vigil_authority_sessions', { node: 'node-2' }) === 1 &&
      m.value('vigil_authority_node_leases') === 2 && m.value('vigil_authority_shards_owned') === m.value('vigil_authority_shard_count') &&
      // An interval needs two heartbeats of one node since the authority started.
      m.value('vigil_authority_heartbeat_interval_seconds_count') > 0);
    assert.ok(auth.value('vigil_authority_shard_changes_total', { change: 'acquired' }) >= auth.value('vigil_authority_shard_count'));
    assert.ok(auth.value('vigil_authority_fanout_stanzas_total', { kind: 'available' }) >= 2);
    const silence = auth.value('vigil_authority_heartbeat_silence_max_seconds');
    assert.ok(silence >= 0 && silence < auth.value('vigil_authority_node_lease_seconds'), `silence ${silence} s`);
  });

  test('a crashed client: expirations by cause client-lost go up, the session gauges drop, detection is timed', async () => {
    const before = await scrapeMetrics(authorityUrl);
    const lostBefore = before.value('vigil_authority_sessions_ended_total', { cause: 'client-lost' });
    const unavailableBefore = before.value('vigil_authority_fanout_stanzas_total', { kind: 'unavailable' });
    const mark = bob.mark();
    alice.crash();
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone', 'unavailable'), DEADLINE_MS, "alice's unavailable", mark);
    const after = await until(authorityUrl, 'the authority counts the client-lost expiry', (m) =>
      m.value('vigil_authority_sessions_ended_total', { cause: 'client-lost' }) === lostBefore + 1 &&
      m.value('vigil_authority_detection_latency_seconds_count', { cause: 'client-lost' }) >= 1);
    assert.equal(after.value('vigil_authority_sessions', { node: 'node-1' }), 0);
    assert.equal(after.value('vigil_authority_sessions', { node: 'node-2' }), 1);
    assert.ok(after.value('vigil_authority_fanout_stanzas_total', { kind: 'unavailable' }) > unavailableBefore, 'bob was sent the unavailable');
    await until(nodeUrl(0), 'node-1 has no session left', (m) => m.value('vigil_node_sessions', { node: 'node-1' }) === 0);
  });

  test('stream errors are counted by condition', async () => {
    const raw = await RawConnection.open(cluster.node(0).port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<stream:features>/, DEADLINE_MS);
    raw.send('<iq type="get" id="1"><query></iq>');
    await raw.waitClosed(DEADLINE_MS);
    await until(nodeUrl(0), 'a not-well-formed stream error', (m) => m.value('vigil_node_stream_errors_total', { condition: 'not-well-formed' }) === 1);
  });

  test('gRPC calls are counted by method and status code', async () => {
    const address = cluster.grpc?.address(0) ?? assert.fail('no gRPC');
    const healthClient = new health.HealthClient(address, credentials.createInsecure());
    const nodes = new api.cluster.ClusterServiceClient(address, credentials.createInsecure());
    try {
      await new Promise<void>((resolve, reject) => healthClient.check({ service: '' }, (err) => (err ? reject(err) : resolve())));
      const refused = await new Promise<ServiceError | null>((resolve) => nodes.listNodes({}, new Metadata(), (err) => resolve(err)));
      assert.equal(refused?.code, status.UNAUTHENTICATED);
    } finally {
      healthClient.close();
      nodes.close();
    }
    await until(authorityUrl, 'both calls counted', (m) =>
      m.value('vigil_grpc_server_calls_total', { method: 'grpc.health.v1.Health/Check', code: 'OK' }) === 1 &&
      m.value('vigil_grpc_server_calls_total', { method: 'vigil.presence.v1.ClusterService/ListNodes', code: 'UNAUTHENTICATED' }) === 1);
  });

  test('a message on a Vigil subject that fails to decode is counted, logged with its subject and dropped; nothing dies', async () => {
    const nc = await cluster.connection();
    const garbage = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    nc.publish('vigil.shard.7.session', garbage);
    nc.publish('vigil.fanout', garbage);
    await nc.flush();
    const a = await until(authorityUrl, 'the authority counting it', (m) => m.value('vigil_bus_messages_dropped_total', { subject: 'vigil.shard.*.session' }) >= 1);
    assert.ok(a.value('vigil_bus_messages_dropped_total') >= 1);
    for (const i of [0, 1]) await until(nodeUrl(i), `node ${i} counting it`, (m) => m.value('vigil_bus_messages_dropped_total', { subject: 'vigil.fanout' }) >= 1);
    await cluster.authority.waitForLog((r) => r.msg === 'dropped malformed message' && r.subject === 'vigil.shard.7.session', DEADLINE_MS, 'the log line');
    // Everyone is still there and working.
    for (const url of [nodeUrl(0), nodeUrl(1), authorityUrl]) assert.equal((await probe(url, '/livez')).status, 200);
    const again = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'alice', password: 'alice-secret', resource: 'after-garbage' });
    await again.stop();
  });

  test('without NATS nothing is ready, though everything is still alive; the disconnect is counted', async () => {
    await cluster.nats?.stop();
    for (const url of [nodeUrl(0), nodeUrl(1), authorityUrl]) {
      const body = await untilProbe(url, '/readyz', 503);
      assert.equal((body as { checks: { nats: boolean } }).checks.nats, false, `${url}: ${JSON.stringify(body)}`);
      assert.equal((await probe(url, '/livez')).status, 200);
      const m = await scrapeMetrics(url);
      assert.equal(m.value('vigil_nats_connected'), 0);
      assert.ok(m.value('vigil_nats_disconnects_total') >= 1);
    }
  });
});
