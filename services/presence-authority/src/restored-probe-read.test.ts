import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { cluster } from '@vigil/proto';
import type { RosterItem } from '@vigil/roster';
import { createLogger } from '@vigil/telemetry';
import { Kvm } from '@nats-io/kv';
import { BUCKETS, subjects } from '@vigil/cluster';
import { LastSeenStore, openShardLocks, openStores, type LastSeen, type Stores } from '@vigil/store';
import { eventually, FakeClock, startNatsServer, type NatsServer } from '@vigil/testkit';
import { Authority } from './authority.js';
import { readAuthorityConfig } from './config.js';
import { recordFanOuts } from './testing/fan-out-recorder.js';

// A restored session's probe reads the contact's last resources from the
// store (docs/decisions.md, "Stream management"). The read is made before
// the probe takes its turn in the contact's queue: while it is slow, the
// contact's other work goes on. A real Authority on a real nats-server, the
// test playing a connection node; the last-seen store's reads can be held.

const S = subjects('vigil');
const config = readAuthorityConfig({ VIGIL_SHARD_COUNT: '1', VIGIL_HEARTBEAT_INTERVAL_MS: '100', VIGIL_NODE_LEASE_MS: '300', VIGIL_SELF_FENCE_MS: '200' });
const D = 'localhost';
const NODE = { nodeId: 'n1', incarnation: 'i1' } as const;
const CAROL = `carol@${D}`;
const ALICE = `alice@${D}/phone`;

/** The store's last-seen values, whose reads wait while `held` is set. */
class HeldLastSeen extends LastSeenStore {
  held: Promise<void> | undefined;
  /** Reads waiting on `held`, each resolved when it starts waiting. */
  readonly waiting: (() => void)[] = [];
  override async get(username: string): Promise<LastSeen | undefined> {
    if (this.held !== undefined) {
      for (const w of this.waiting.splice(0)) w();
      await this.held;
    }
    return super.get(username);
  }
}

describe("presence authority: a restored probe's last-seen read", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let tc: NatsConnection;
  let stores: Stores;
  let lastSeen: HeldLastSeen;
  let authority: Authority;
  /** Every presence delivered: who from, to whom, of which type. */
  const out: { readonly from: string; readonly to: string; readonly type: string }[] = [];

  const presence = (full: string, available: boolean, seq: number) => {
    const stanzaXml = available ? `<presence from='${full}'/>` : `<presence from='${full}' type='unavailable'/>`;
    const ev: cluster.SessionEvent = {
      session: { sessionId: `s-${full}`, fullJid: full, ...NODE },
      event: { $case: 'presence', presence: { stanzaXml, available, priority: 0, seq, restored: false } },
    };
    tc.publish(S.shardSession(0), cluster.SessionEvent.encode(ev).finish());
  };
  const seen = (from: string, to: string, type: string) => out.some((o) => o.from === from && o.to === to && o.type === type);

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    tc = await connect({ servers: server.url });
    stores = await openStores(nc);
    lastSeen = new HeldLastSeen(await new Kvm(nc).open(BUCKETS.lastSeen));
    recordFanOuts(tc, out);
    const item = (jid: string): RosterItem => ({ jid, name: '', subscription: 'both', pendingOut: false, groups: [] });
    await stores.rosters.put('carol', { roster: { version: 1, items: [item(`alice@${D}`)] }, pendingIn: [], blocked: [] }, 0);
    await stores.rosters.put('alice', { roster: { version: 1, items: [item(CAROL)] }, pendingIn: [], blocked: [] }, 0);
    const shardLocks = await openShardLocks(nc, { lockTtlMs: config.timings.shardLockTtlMs });
    authority = new Authority({
      nc, stores: { ...stores, lastSeen }, config, log: createLogger({}, { level: 'error' }), now: new FakeClock(1_000).now, autoTick: false, shardLocks,
    });
    await authority.start();
    tc.publish(S.heartbeat(NODE.nodeId), cluster.Heartbeat.encode({ ...NODE, seq: 1, sentAtUnixMs: Date.now(), shards: [] }).finish());
    // carol's laptop was online and left: stored as her last resource.
    await eventually(async () => {
      presence(`${CAROL}/laptop`, true, 1);
      await tc.flush();
      await authority.idle();
      assert.ok(seen(`${CAROL}/laptop`, `alice@${D}`, 'available'), 'the authority serving shard 0');
    }, 10_000, 'the authority serving shard 0');
    presence(`${CAROL}/laptop`, false, 2);
    await eventually(async () => assert.equal((await stores.lastSeen.get('carol'))?.fullJid, `${CAROL}/laptop`), 10_000, "carol's laptop stored as last seen");
  });

  let stopped = false;
  after(async () => {
    if (!stopped) await authority?.stop();
    await tc?.close();
    await nc?.close();
    await server?.stop();
  });

  test("while the read is slow the contact's presence goes out; the answer then comes from the registry as it is by then", async () => {
    let release = (): void => undefined;
    lastSeen.held = new Promise<void>((resolve) => (release = resolve));
    const reading = new Promise<void>((resolve) => lastSeen.waiting.push(resolve));
    tc.publish(S.shardProbe(0), cluster.Probe.encode({ fromFullJid: ALICE, toBareJid: CAROL, fromShard: 0, fromEpoch: 0, restored: true }).finish());
    await reading;
    // carol comes back on her desk while the read is held: her presence is not held up behind it.
    presence(`${CAROL}/desk`, true, 1);
    try {
      await eventually(async () => assert.ok(seen(`${CAROL}/desk`, `alice@${D}`, 'available')), 5_000, "carol's presence while the read is held");
      assert.ok(!seen(`${CAROL}/laptop`, ALICE, 'unavailable'), 'answered before the read ended');
    } finally {
      lastSeen.held = undefined;
      release();
    }
    await eventually(async () => assert.ok(seen(`${CAROL}/laptop`, ALICE, 'unavailable')), 5_000, 'the answer once the read ends');
    await authority.idle();
    // In the probe's turn, after carol's desk came: its presence, never an unavailable for it.
    assert.ok(seen(`${CAROL}/desk`, ALICE, 'available'));
    assert.ok(!seen(`${CAROL}/desk`, ALICE, 'unavailable'));
  });

  test('a graceful stop answers a restored probe whose read is outstanding, from the registry it still holds', async () => {
    const prober = `alice@${D}/tablet`;
    let release = (): void => undefined;
    lastSeen.held = new Promise<void>((resolve) => (release = resolve));
    const reading = new Promise<void>((resolve) => lastSeen.waiting.push(resolve));
    tc.publish(S.shardProbe(0), cluster.Probe.encode({ fromFullJid: prober, toBareJid: CAROL, fromShard: 0, fromEpoch: 0, restored: true }).finish());
    await reading;
    stopped = true;
    const stopping = authority.stop();
    // The hand-over has begun once shard 0 has no subscriber (NATS answers "no responders" at once).
    const iq = cluster.IqRequest.encode({ session: { sessionId: 's-x', fullJid: `${CAROL}/desk`, ...NODE }, stanzaXml: '', typed: { $case: 'blockListGet', blockListGet: {} } }).finish();
    await eventually(() => assert.rejects(tc.request(S.shardIq(0), iq, { timeout: 1000 })), 10_000, 'shard 0 let go by the stop');
    lastSeen.held = undefined;
    release();
    await stopping;
    await eventually(async () => assert.ok(seen(`${CAROL}/laptop`, prober, 'unavailable')), 5_000, 'the answer, sent before the shard was let go');
    assert.ok(seen(`${CAROL}/desk`, prober, 'available'), 'carol is still on her desk');
    assert.ok(!seen(`${CAROL}/desk`, prober, 'unavailable'), 'answered from a registry without the shard');
  });
});
