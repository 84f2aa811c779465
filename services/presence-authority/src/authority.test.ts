import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import { digestKey, digestOf, shardOf, subjects } from '@vigil/cluster';
import { createLogger } from '@vigil/telemetry';
import { openShardLocks, openStores, provisionUsers } from '@vigil/store';
import { FakeClock, startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { withTo } from '@vigil/xmpp';
import { Authority } from './authority.js';
import { readAuthorityConfig } from './config.js';

// The authority against a real nats-server, with this test playing the
// connection nodes and a fake clock driving the leases.
const S = subjects('vigil');
const config = readAuthorityConfig({ VIGIL_HEARTBEAT_INTERVAL_MS: '100', VIGIL_NODE_LEASE_MS: '300', VIGIL_SELF_FENCE_MS: '200' });

describe('presence authority', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let authority: Authority;
  const clock = new FakeClock(1_000);
  const toBob: string[] = [];
  const waiters: (() => void)[] = [];

  const bobGets = (pattern: RegExp, what: string) =>
    withDeadline(
      new Promise<string>((resolve) => {
        const check = () => {
          const hit = toBob.find((x) => pattern.test(x));
          if (hit) resolve(hit);
          else waiters.push(check);
        };
        check();
      }),
      5000,
      what,
    );

  /** A connection node as the authority sees it: heartbeats, events, session lists. */
  const fakeNode = (nodeId: string, incarnation: string) => {
    const sessions = new Map<string, { state: cluster.SessionState; shard: number }>();
    const sub = nc.subscribe(S.nodeSessions(nodeId), {
      callback: (_e, m) => {
        const { shard } = cluster.SessionListRequest.decode(m.data);
        const list = [...sessions.values()].filter((s) => s.shard === shard).map((s) => s.state);
        m.respond(cluster.SessionListResponse.encode({ incarnation, sessions: list }).finish());
      },
    });
    const ref = (id: string, fullJid: string): cluster.SessionRef => ({ sessionId: id, fullJid, nodeId, incarnation });
    return {
      heartbeat: async () => {
        const byShard = new Map<number, string[]>();
        for (const [id, s] of sessions) byShard.set(s.shard, [...(byShard.get(s.shard) ?? []), digestKey(id, s.state.presenceSeq)]);
        const hb: cluster.Heartbeat = {
          nodeId, incarnation, seq: 0, sentAtUnixMs: Date.now(),
          shards: [...byShard].map(([shard, ids]) => ({ shard, ...digestOf(ids) })),
        };
        nc.publish(S.heartbeat(nodeId), cluster.Heartbeat.encode(hb).finish());
        await nc.flush();
      },
      available: async (id: string, fullJid: string) => {
        const xml = `<presence from='${fullJid}'/>`;
        const shard = shardOf(fullJid.split('/')[0] ?? '');
        sessions.set(id, { state: { session: ref(id, fullJid), available: true, presenceXml: xml, priority: 0, presenceSeq: 1 }, shard });
        const ev: cluster.SessionEvent = { session: ref(id, fullJid), event: { $case: 'presence', presence: { stanzaXml: xml, available: true, priority: 0, seq: 1, restored: false } } };
        nc.publish(S.shardSession(shard), cluster.SessionEvent.encode(ev).finish());
        await nc.flush();
      },
      /** A new broadcast the authority never hears of: the fast-path message was lost. */
      updateSilently: (id: string, xml: string) => {
        const s = sessions.get(id);
        if (s) s.state = { ...s.state, presenceXml: xml, presenceSeq: s.state.presenceSeq + 1 };
      },
      /** The node forgets a session without telling anyone: the fast-path message was lost. */
      loseSilently: (id: string) => sessions.delete(id),
      stop: () => sub.unsubscribe(),
    };
  };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const stores = await openStores(nc);
    await provisionUsers(stores, 'localhost', [{ username: 'alice', password: 'a' }, { username: 'bob', password: 'b' }], [
      { owner: 'alice', contact: 'bob', subscription: 'both' },
      { owner: 'bob', contact: 'alice', subscription: 'both' },
    ], 4096);
    nc.subscribe(S.deliver('bob@localhost'), {
      callback: (_e, m) => {
        toBob.push(cluster.Delivery.decode(m.data).stanzaXml);
        for (const w of waiters.splice(0)) w();
      },
    });
    // Broadcasts come batched to every node; a node keeps what is for its users (here: bob).
    nc.subscribe(S.fanOut, {
      callback: (_e, m) => {
        for (const f of cluster.FanOutBatch.decode(m.data).fanOuts) {
          for (const to of f.toJids) if (to.split('/')[0] === 'bob@localhost') toBob.push(withTo(f.stanzaXml, to));
        }
        for (const w of waiters.splice(0)) w();
      },
    });
    const shardLocks = await openShardLocks(nc, { lockTtlMs: config.timings.shardLockTtlMs });
    authority = new Authority({ nc, stores, config, log: createLogger({}, { level: 'error' }), now: clock.now, autoTick: false, shardLocks });
    await authority.start();
    await nc.flush();
  });

  after(async () => {
    await authority?.stop();
    await nc?.close();
    await server?.stop();
  });

  test("a session whose end was never reported is announced unavailable after the node's digest disagrees", async () => {
    const node = fakeNode('n1', 'i1');
    await node.heartbeat();
    await node.available('s1', 'alice@localhost/phone');
    await bobGets(/^<presence to='bob@localhost' from='alice@localhost\/phone'\/>$/, 'alice available');
    node.loseSilently('s1');
    for (let i = 0; i < 3; i++) await node.heartbeat();
    await bobGets(/from='alice@localhost\/phone' type='unavailable'/, 'unavailable after reconcile');
    node.stop();
  });

  test('a presence update lost on the way is healed from the node\'s digest', async () => {
    const node = fakeNode('n5', 'i1');
    await node.heartbeat();
    await node.available('s5', 'alice@localhost/tv');
    await bobGets(/from='alice@localhost\/tv'\/>/, 'alice/tv available');
    node.updateSilently('s5', `<presence from='alice@localhost/tv'><show>away</show></presence>`);
    for (let i = 0; i < 3; i++) await node.heartbeat();
    await bobGets(/from='alice@localhost\/tv'><show>away<\/show>/, 'the lost update, re-announced');
    node.stop();
  });

  test('a node that goes silent has its sessions expire when its lease runs out, not before', async () => {
    const node = fakeNode('n2', 'i1');
    await node.heartbeat();
    authority.tick();
    await node.available('s2', 'alice@localhost/laptop');
    await bobGets(/from='alice@localhost\/laptop'\/>/, 'alice/laptop available');
    await authority.idle();
    for (let step = 0; step < 5; step++) {
      clock.advance(50);
      authority.tick();
    }
    assert.ok(!toBob.some((x) => /laptop' type='unavailable'/.test(x)), 'expired before the lease ran out');
    for (let step = 0; step < 3; step++) {
      clock.advance(50);
      authority.tick();
    }
    await bobGets(/from='alice@localhost\/laptop' type='unavailable'/, 'unavailable after the lease');
    node.stop();
  });

  test('a node declared dead that turns out alive is told to fence, at expiry and again at its next heartbeat', async () => {
    const notices: cluster.IncarnationRetired[] = [];
    const noticed: (() => void)[] = [];
    const sub = nc.subscribe(S.nodeRetired('n5'), {
      callback: (_e, m) => {
        notices.push(cluster.IncarnationRetired.decode(m.data));
        noticed.splice(0).forEach((f) => f());
      },
    });
    const noticeCount = (n: number, what: string) =>
      withDeadline(new Promise<void>((resolve) => {
        const check = () => (notices.length >= n ? resolve() : void noticed.push(check));
        check();
      }), 5000, what);
    await nc.flush();
    const node = fakeNode('n5', 'slow');
    await node.heartbeat();
    authority.tick();
    await node.available('s6', 'alice@localhost/boat');
    await bobGets(/from='alice@localhost\/boat'\/>/, 'alice/boat available');
    await authority.idle();
    for (let step = 0; step < 8; step++) {
      clock.advance(50);
      authority.tick();
    }
    await bobGets(/from='alice@localhost\/boat' type='unavailable'/, 'unavailable after the lease');
    await noticeCount(1, 'a notice when the lease ran out');
    assert.deepEqual({ ...notices[0] }, { nodeId: 'n5', incarnation: 'slow', authorityId: config.authorityId });
    await node.heartbeat(); // its heartbeats were only late: the node is alive, its sessions announced
    await noticeCount(2, 'a notice answering the late heartbeat');
    assert.equal(notices[1]?.incarnation, 'slow');
    sub.unsubscribe();
    node.stop();
  });

  test('a new incarnation of a node ends the old incarnation\'s sessions at once', async () => {
    const old = fakeNode('n3', 'old');
    await old.heartbeat();
    await old.available('s3', 'alice@localhost/desk');
    await bobGets(/from='alice@localhost\/desk'\/>/, 'alice/desk available');
    old.stop();
    const fresh = fakeNode('n3', 'new');
    await fresh.heartbeat();
    await bobGets(/from='alice@localhost\/desk' type='unavailable'/, 'unavailable on restart');
    fresh.stop();
  });

  test('after a stall of its own the authority expires nobody on the silence it could not hear', async () => {
    const node = fakeNode('n4', 'i1');
    await node.heartbeat();
    authority.tick();
    await node.available('s4', 'alice@localhost/car');
    await bobGets(/from='alice@localhost\/car'\/>/, 'alice/car available');
    clock.advance(5_000); // the authority's event loop was stuck for 5 s
    authority.tick();
    clock.advance(50);
    authority.tick();
    await node.heartbeat();
    await authority.idle();
    assert.ok(!toBob.some((x) => /car' type='unavailable'/.test(x)), 'a live node was declared dead');
    node.stop();
  });
});

