import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { cluster, store } from '@vigil/proto';
import type { RosterItem } from '@vigil/roster';
import { createLogger } from '@vigil/telemetry';
import { BUCKETS, shardOf, subjects } from '@vigil/cluster';
import { LastSeenStore, openShardLocks, openStores, RevisionConflictError, RosterStore, type LastSeen, type Stores, type VersionedRecord } from '@vigil/store';
import { eventually, FakeClock, startNatsServer, type NatsServer } from '@vigil/testkit';
import { Authority } from './authority.js';
import { readAuthorityConfig } from './config.js';
import { recordFanOuts } from './testing/fan-out-recorder.js';
import { ShardManager } from './shard-manager.js';

// A restored session's probe and the contact's shard changing hands while
// the answer is pending (docs/decisions.md "Restored sessions: every resource
// that left"): a real Authority owning two shards on a real nats-server, the
// test playing the connection node; store reads can be held per user.

const S = subjects('vigil');
const D = 'localhost';
const SHARDS = 2;
const env = { VIGIL_SHARD_COUNT: String(SHARDS), VIGIL_HEARTBEAT_INTERVAL_MS: '100', VIGIL_NODE_LEASE_MS: '300', VIGIL_SELF_FENCE_MS: '200', VIGIL_SHARD_LOCK_TTL_MS: '1500' };
const ALICE = `alice@${D}/phone`;
const CAROL = `carol@${D}`;
const DAVE = `dave@${D}`;
const shard = (bare: string): number => shardOf(bare, SHARDS);
const localOf = (bare: string): string => bare.slice(0, bare.indexOf('@'));

/** Reads of held keys (`lastseen:<user>`, `roster:<user>`) wait until released; `reading(key)` resolves once one waits. */
class Holds {
  readonly #held = new Map<string, { readonly gate: Promise<void>; readonly open: () => void; readonly waiting: (() => void)[]; started: boolean }>();
  hold(user: string): void {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.#held.set(user, { gate, open, waiting: [], started: false });
  }
  reading(user: string): Promise<void> {
    const h = this.#held.get(user);
    if (h === undefined) throw new Error(`${user} not held`);
    return h.started ? Promise.resolve() : new Promise((resolve) => h.waiting.push(resolve));
  }
  release(user: string): void {
    this.#held.get(user)?.open();
    this.#held.delete(user);
  }
  releaseAll(): void {
    for (const user of [...this.#held.keys()]) this.release(user);
  }
  async wait(user: string): Promise<void> {
    const h = this.#held.get(user);
    if (h === undefined) return;
    h.started = true;
    for (const w of h.waiting.splice(0)) w();
    await h.gate;
  }
}

class HeldLastSeen extends LastSeenStore {
  constructor(kv: KV, readonly holds: Holds) {
    super(kv);
  }
  override async get(username: string): Promise<LastSeen | undefined> {
    await this.holds.wait(`lastseen:${username}`);
    return super.get(username);
  }
}

class HeldRosters extends RosterStore {
  constructor(kv: KV, readonly holds: Holds) {
    super(kv, BUCKETS.rosters);
  }
  override async get(username: string): Promise<VersionedRecord> {
    await this.holds.wait(`roster:${username}`);
    return super.get(username);
  }
}

const item = (jid: string): RosterItem => ({ jid, name: '', subscription: 'both', pendingOut: false, groups: [] });
const probe = (from: string, to: string) => cluster.Probe.encode({ fromFullJid: from, toBareJid: to, fromShard: 0, fromEpoch: 0, restored: true }).finish();

interface Setup {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly tc: NatsConnection;
  readonly stores: Stores;
  readonly shardLocks: KV;
  readonly holds: Holds;
  readonly authority: Authority;
  /** Every presence delivered: who from, to whom, of which type. */
  readonly out: { readonly from: string; readonly to: string; readonly type: string }[];
}

async function setUp(): Promise<Setup> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const tc = await connect({ servers: server.url });
  const base = await openStores(nc);
  const holds = new Holds();
  const kvm = new Kvm(nc);
  const stores: Stores = { ...base, lastSeen: new HeldLastSeen(await kvm.open(BUCKETS.lastSeen), holds), rosters: new HeldRosters(await kvm.open(BUCKETS.rosters), holds) };
  const out: Setup['out'] = [];
  recordFanOuts(tc, out);
  await base.rosters.put('alice', { roster: { version: 1, items: [item(CAROL), item(DAVE)] }, pendingIn: [], blocked: [] }, 0);
  for (const c of ['carol', 'dave']) {
    await base.rosters.put(c, { roster: { version: 1, items: [item(`alice@${D}`)] }, pendingIn: [], blocked: [] }, 0);
    // Left while alice was away: what a restored probe's answer names.
    await base.lastSeen.put(c, { unixMs: 1, status: '', fullJid: `${c}@${D}/laptop` });
  }
  const config = readAuthorityConfig({ ...env, VIGIL_AUTHORITY_ID: 'a' });
  const shardLocks = await openShardLocks(nc, { lockTtlMs: config.timings.shardLockTtlMs });
  const authority = new Authority({ nc, stores, config, log: createLogger({}, { level: 'error' }), now: new FakeClock(1_000).now, autoTick: false, shardLocks });
  await authority.start();
  await eventually(async () => assert.equal(authority.shards.owned.size, SHARDS), 10_000, 'both shards owned');
  return { server, nc, tc, stores, shardLocks, holds, authority, out };
}

/** Sends a restored probe once the contact's shard is served (a request: "no responders" until it is). */
async function sendProbe(s: Setup, from: string, to: string): Promise<void> {
  await eventually(async () => void (await s.tc.request(S.shardProbe(shard(to)), probe(from, to), { timeout: 1000 })), 10_000, `${to}'s shard serving probes`);
}

/** Every fan-out the authority published so far has reached the test's connection. */
async function delivered(s: Setup): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve)); // the outbox writes once per turn
  await s.nc.flush();
  await s.tc.flush();
}

async function tearDown(s: Setup | undefined, stopped = false): Promise<void> {
  s?.holds.releaseAll();
  if (!stopped) await s?.authority.stop();
  await s?.tc.close();
  await s?.nc.close();
  await s?.server.stop();
}

describe('presence authority: a restored probe whose answer waits while the shard is lost', () => {
  let s: Setup;
  before(async () => (s = await setUp()));
  after(() => tearDown(s));

  test("an answer queued when the contact's shard is lost (not handed over) is dropped, not sent from the emptied registry", async () => {
    assert.notEqual(shard(CAROL), shard(`alice@${D}`), "the prober's shard stays owned");
    // carol's roster entry is not cached (nothing of hers ran here): the answer is queued behind its read, held.
    s.holds.hold('roster:carol');
    const reading = s.holds.reading('roster:carol');
    await sendProbe(s, ALICE, CAROL);
    await reading;
    // Another replica takes carol's shard: this one loses it at once (no hand-over).
    const key = `shard.${shard(CAROL)}`;
    const lock = await s.shardLocks.get(key);
    assert.ok(lock !== null);
    await s.shardLocks.update(key, store.ShardLock.encode({ ownerId: 'other', epoch: 0, renewedAtUnixMs: Date.now(), ownerLiveness: false }).finish(), lock.revision);
    await eventually(async () => assert.equal(s.authority.shards.epochOf(shard(CAROL)), undefined), 10_000, "carol's shard lost");
    s.holds.release('roster:carol');
    await s.authority.idle();
    await delivered(s);
    assert.deepEqual(s.out.filter((o) => o.to === ALICE && o.from.startsWith(CAROL)), [], 'nothing from carol to the prober after her shard was lost');
  });
});

test('the last-seen store writes by compare-and-set: a stale revision is a conflict, a deleted key counts as at its marker', async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const { lastSeen } = await openStores(nc);
    const v = (r: string, unixMs: number): LastSeen => ({ unixMs, status: '', fullJid: `erin@${D}/${r}` });
    const first = await lastSeen.update('erin', v('a', 1), 0);
    await assert.rejects(lastSeen.update('erin', v('b', 2), 0), RevisionConflictError, 'created twice');
    const second = await lastSeen.update('erin', v('b', 2), first);
    await assert.rejects(lastSeen.update('erin', v('c', 3), first), RevisionConflictError, 'at a stale revision');
    assert.deepEqual(await lastSeen.read('erin'), { value: v('b', 2), revision: second });
    await lastSeen.remove('erin');
    const gone = await lastSeen.read('erin');
    assert.equal(gone.value, undefined);
    await assert.rejects(lastSeen.update('erin', v('c', 3), second), RevisionConflictError, 'at the revision before the deletion');
    await lastSeen.update('erin', v('c', 3), gone.revision);
    assert.deepEqual(await lastSeen.get('erin'), v('c', 3));
  } finally {
    await nc.close();
    await server.stop();
  }
});

describe('presence authority: a graceful hand-over with restored probes of another shard outstanding', () => {
  let s: Setup;
  let other: ShardManager | undefined;
  before(async () => (s = await setUp()));
  after(async () => {
    await other?.stop();
    await tearDown(s);
  });

  test("a shard's hand-over waits for its own restored probes' reads, not for another shard's", async () => {
    assert.notEqual(shard(CAROL), shard(DAVE));
    s.holds.hold('lastseen:carol');
    s.holds.hold('lastseen:dave');
    const reads = Promise.all([s.holds.reading('lastseen:carol'), s.holds.reading('lastseen:dave')]);
    await sendProbe(s, ALICE, CAROL);
    await sendProbe(s, ALICE, DAVE);
    await reads;
    // A second replica joins: the first hands one shard over.
    const config = readAuthorityConfig({ ...env, VIGIL_AUTHORITY_ID: 'b' });
    other = new ShardManager({
      nc: s.nc, kv: s.shardLocks, subjects: S, config, log: createLogger({}, { level: 'error' }),
      callbacks: { acquired: async () => undefined, releasing: async () => undefined, lost: () => undefined },
    });
    await other.start();
    const iq = (bare: string) => cluster.IqRequest.encode({ session: { sessionId: 's-x', fullJid: `${bare}/x`, nodeId: 'n1', incarnation: 'i1' }, stanzaXml: '', typed: { $case: 'blockListGet', blockListGet: {} } }).finish();
    // The hand-over has begun once a shard has no subscriber (NATS answers "no responders" at once).
    let giving: string | undefined;
    await eventually(async () => {
      for (const c of [CAROL, DAVE]) {
        const served = await s.tc.request(S.shardIq(shard(c)), iq(c), { timeout: 1000 }).then(() => true, () => false);
        if (!served) giving = c;
      }
      assert.ok(giving !== undefined);
    }, 15_000, 'a shard being handed over');
    const handed: string = giving ?? assert.fail('no shard handed over');
    const staying = handed === CAROL ? DAVE : CAROL;
    s.holds.release(`lastseen:${localOf(handed)}`);
    // Handed over (the other replica holds it) while the other shard's read is still held.
    await eventually(async () => assert.notEqual(other?.epochOf(shard(handed)), undefined), 10_000, `${handed}'s shard handed over while ${staying}'s read is held`);
    await delivered(s);
    assert.ok(s.out.some((o) => o.to === ALICE && o.from === `${handed}/laptop` && o.type === 'unavailable'), 'answered before the hand-over ended');
    s.holds.release(`lastseen:${localOf(staying)}`);
    await eventually(async () => {
      await delivered(s);
      assert.ok(s.out.some((o) => o.to === ALICE && o.from === `${staying}/laptop` && o.type === 'unavailable'));
    }, 10_000, 'the other shard answers once its read ends');
  });
});
