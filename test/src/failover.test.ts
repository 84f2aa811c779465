import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { store } from '@vigil/proto';
import { BUCKETS, shardOf } from '@vigil/cluster';
import { Cluster, TestClient, is, xml, type ChildService, mutualContacts } from '@vigil/testkit';

// Sharded authorities under failure (DESIGN.md "Liveness, leases and
// failure detection"): two replicas share the shards; killing one, even
// together with a connection node, loses no announcement.
const DEADLINE_MS = 20_000;

const ownsHalf = (a: ChildService) =>
  a.waitForLog((r) => r.msg === 'shard ownership changed' && r.owned === 128, DEADLINE_MS, 'owning half of the shards');

describe('sharded presence authorities', () => {
  let cluster: Cluster;
  const clients: TestClient[] = [];

  const ownerOf = async (bareJid: string): Promise<string> => {
    const kv = await new Kvm(await cluster.connection()).open(BUCKETS.shards);
    const entry = await kv.get(`shard.${shardOf(bareJid)}`);
    assert.ok(entry && entry.operation === 'PUT', `shard of ${bareJid} has an owner`);
    return store.ShardLock.decode(entry.value).ownerId;
  };
  const login = async (node: number, username: string, resource: string) => {
    const c = await TestClient.connect({ port: cluster.node(node).port, domain: 'localhost', username, password: 'pw', resource });
    clients.push(c);
    await c.sendPresence();
    return c;
  };

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, authorities: 2 });
    await cluster.provision(
      [{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }],
      mutualContacts('alice', 'bob'),
    );
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test('two replicas share the 256 shards evenly', async () => {
    await Promise.all(cluster.authorities.map(ownsHalf));
  });

  test("an authority and a connection node killed together: the node's users are still announced unavailable", async () => {
    const bob = await login(1, 'bob', 'desk');
    const alice = await login(0, 'alice', 'phone');
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice online');
    const owner = await ownerOf('alice@localhost');
    const victim = cluster.authorities.find((a) => a.name === owner);
    assert.ok(victim, `owner ${owner} is one of ours`);
    const survivor = cluster.authorities.find((a) => a !== victim) as ChildService;
    const mark = bob.mark();
    victim.signal('SIGKILL');
    cluster.node(0).service.signal('SIGKILL');
    await survivor.waitForLog((r) => r.msg === 'shard ownership changed' && r.owned === 256, DEADLINE_MS, 'taking every shard');
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'unavailable from the successor', mark);
    assert.equal(await ownerOf('alice@localhost'), survivor.name);
  });

  test('a replica stopped with SIGTERM hands its shards over at once, and a crash during the hand-over is announced exactly once', async () => {
    await cluster.restartNode(0);
    const dead = cluster.authorities.findIndex((a) => a.process.exitCode !== null || a.process.signalCode !== null);
    const restarted = await cluster.restartAuthority(dead);
    await ownsHalf(restarted);
    const bob = clients.find((c) => c.jid === 'bob@localhost/desk') as TestClient;
    const alice = await login(0, 'alice', 'laptop');
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice/laptop online');
    const ownerName = await ownerOf('alice@localhost');
    const departing = cluster.authorities.find((a) => a.name === ownerName) as ChildService;
    const staying = cluster.authorities.find((a) => a !== departing) as ChildService;
    const mark = bob.mark();
    departing.signal('SIGTERM');
    alice.crash();
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'unavailable during the hand-over', mark);
    await staying.waitForLog((r) => r.msg === 'shard ownership changed' && r.owned === 256, DEADLINE_MS, 'taking the departing shards');
    await departing.exited;
    // A round trip through bob's own shard owner after both replicas settled: nothing more is on its way.
    await bob.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    assert.equal(bob.received.slice(mark.index).filter(is.presenceFrom(alice.jid, 'unavailable')).length, 1);
  });
});
