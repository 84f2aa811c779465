import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Received } from '@vigil/testkit';
import { LAST_SEEN_RESOURCES, type LastSeen, type VersionedLastSeen } from '@vigil/store';
import { InMemoryCluster, MemoryLastSeen } from './testing/in-memory.js';

// RFC 6121 §4.3.2 probe answers for a session a XEP-0198 resumption brought
// back after the presence grace ended it: its client still shows what it saw
// before, so contacts with no available resource answer with unavailable.
// Ordinary logins are answered as before (available presences only).
const ALICE = 'alice@x/phone';
const key = (r: Received) => `${r.from} ${r.type || 'available'}`;

/**
 * alice subscribes to bob (online), carol (online, then gone while alice is
 * away), dave (never online), frank (blocks alice, then gone); gina only
 * subscribes to alice. alice's session ends (the grace) and comes back.
 */
async function aliceAwayWhileCarolLeaves(): Promise<InMemoryCluster> {
  const c = new InMemoryCluster();
  for (const contact of ['bob@x', 'carol@x', 'dave@x', 'frank@x']) {
    await c.setItem('alice@x', contact, 'both');
    await c.setItem(contact, 'alice@x', 'both');
  }
  await c.setItem('alice@x', 'gina@x', 'from');
  await c.setItem('gina@x', 'alice@x', 'to');
  for (const full of ['bob@x/desk', 'carol@x/laptop', 'frank@x/r', 'gina@x/r']) {
    c.bind(full, 'n2');
    await c.presence(full, true);
  }
  await c.block('frank@x/r', 'alice@x', 'block');
  await c.end('frank@x/r');
  await c.end('gina@x/r');
  c.bind(ALICE, 'n1');
  await c.presence(ALICE, true);
  await c.end(ALICE);
  await c.end('carol@x/laptop');
  c.take();
  c.bind(ALICE, 'n1');
  return c;
}

const toAlice = (c: InMemoryCluster) => c.take().filter((r) => r.to === ALICE).map(key).sort();

test("a restored session gets unavailable from each subscribed contact with nobody available: the last resource's full JID, else the bare JID", async () => {
  const c = await aliceAwayWhileCarolLeaves();
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), [
    'alice@x/phone available', // RFC 6121 §4.2.2: its own presence
    'bob@x/desk available', // still online: his presence, no unavailable
    'carol@x/laptop unavailable', // left while alice was away: her last resource
    'dave@x unavailable', // never seen: the bare JID
    // frank blocked alice: nothing at all; gina: alice does not subscribe to her
  ]);
});

test('an ordinary login is answered with available presences only', async () => {
  const c = await aliceAwayWhileCarolLeaves();
  await c.presence(ALICE, true);
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'bob@x/desk available']);
});

test('a contact who came back on the same resource before the restored probe is answered with its presence, not an unavailable', async () => {
  const c = await aliceAwayWhileCarolLeaves();
  c.bind('carol@x/laptop', 'n2');
  await c.presence('carol@x/laptop', true);
  await c.presence(ALICE, true, { restored: true });
  const got = toAlice(c).filter((r) => r.startsWith('carol@x'));
  assert.deepEqual(got, ['carol@x/laptop available']);
});

test('a contact back on another resource: the restored session gets its presence and the unavailable of the one that left', async () => {
  const c = await aliceAwayWhileCarolLeaves();
  c.bind('carol@x/tablet', 'n2');
  await c.presence('carol@x/tablet', true);
  await c.presence(ALICE, true, { restored: true });
  const got = toAlice(c).filter((r) => r.startsWith('carol@x'));
  assert.deepEqual(got, ['carol@x/laptop unavailable', 'carol@x/tablet available']);
});

/** alice subscribes to carol; carol's `before` resources are online when alice's session ends, then `leave` of them go. */
async function carolWhileAliceAway(before: readonly string[], leave: readonly string[], options: ConstructorParameters<typeof InMemoryCluster>[0] = {}): Promise<InMemoryCluster> {
  const c = new InMemoryCluster(options);
  await c.setItem('alice@x', 'carol@x', 'both');
  await c.setItem('carol@x', 'alice@x', 'both');
  for (const r of before) {
    c.bind(`carol@x/${r}`, 'n2');
    await c.presence(`carol@x/${r}`, true);
  }
  c.bind(ALICE, 'n1');
  await c.presence(ALICE, true);
  await c.end(ALICE);
  for (const r of leave) await c.end(`carol@x/${r}`);
  c.take();
  c.bind(ALICE, 'n1');
  return c;
}

test('every resource of a contact that left while the session was away is announced unavailable to it when restored', async () => {
  const c = await carolWhileAliceAway(['a', 'b'], ['a', 'b']);
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'carol@x/a unavailable', 'carol@x/b unavailable']);
});

test('a resource that left while another stays: unavailable for it, presence for the other', async () => {
  const c = await carolWhileAliceAway(['a', 'b'], ['a']);
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'carol@x/a unavailable', 'carol@x/b available']);
});

test('the same holds once the ends are stored (read from the store, not from the values waiting to be written)', async () => {
  const c = await carolWhileAliceAway(['a', 'b', 'c'], ['a', 'b']);
  await c.flushLastSeen();
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'carol@x/a unavailable', 'carol@x/b unavailable', 'carol@x/c available']);
});

test(`a contact remembers its last ${LAST_SEEN_RESOURCES} resources: the oldest ends beyond them are not repeated`, async () => {
  const all = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
  const c = await carolWhileAliceAway(all, all);
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'carol@x/r3 unavailable', 'carol@x/r4 unavailable', 'carol@x/r5 unavailable', 'carol@x/r6 unavailable']);
});

test("ends are merged onto the stored value, an older version's record included: a takeover keeps the resources it stored", async () => {
  const stored = new CountingLastSeen();
  // As an older version wrote it; at the same time as the new end (this cluster's wall clock stands at 0), so the
  // end noted later is the last one.
  await stored.put('carol', { unixMs: 0, status: '', fullJid: 'carol@x/old' });
  const c = await carolWhileAliceAway(['a'], ['a'], { lastSeen: stored });
  await c.flushLastSeen();
  assert.deepEqual(await stored.get('carol'), { unixMs: 0, status: '', fullJid: 'carol@x/a', earlierEnds: [{ resource: 'old', unixMs: 0 }] });
  await c.presence(ALICE, true, { restored: true });
  assert.deepEqual(toAlice(c), ['alice@x/phone available', 'carol@x/a unavailable', 'carol@x/old unavailable']);
});

test('an ordinary login reads no last-seen value; a restored one reads one per subscribed contact', async () => {
  const stored = new CountingLastSeen();
  const c = await carolWhileAliceAway(['a'], ['a'], { lastSeen: stored });
  await c.flushLastSeen();
  stored.gets = 0;
  await c.presence(ALICE, true);
  assert.equal(stored.gets, 0);
  await c.end(ALICE);
  await c.flushLastSeen();
  c.bind(ALICE, 'n1');
  stored.gets = 0;
  await c.presence(ALICE, true, { restored: true });
  assert.equal(stored.gets, 1);
});

/** Last-seen in memory, counting reads. */
class CountingLastSeen extends MemoryLastSeen {
  gets = 0;
  override async get(username: string): Promise<LastSeen | undefined> {
    this.gets++;
    return super.get(username);
  }
}

test("a replica that lost the user's shard (not handed over) drops its deferred last-seen write: the new owner's value stays", async () => {
  const stored = new CountingLastSeen();
  let epoch: number | undefined = 1;
  const c = await carolWhileAliceAway(['a', 'b'], ['a'], { lastSeen: stored, epochOf: () => epoch });
  // carol/a's end is noted at epoch 1, its write waiting for a pause in ends. The shard is lost; its new owner
  // stores a later end, merged onto what it read.
  epoch = undefined;
  const newOwners: LastSeen = { unixMs: 5, status: '', fullJid: 'carol@x/b', earlierEnds: [{ resource: 'a', unixMs: 0 }] };
  await stored.put('carol', newOwners);
  await c.flushLastSeen();
  assert.deepEqual(await stored.get('carol'), newOwners);
});

test('a last-seen write that lost its compare-and-set reads again and merges with the value that came first, the later end on top', async () => {
  const stored = new RacedLastSeen();
  const c = await carolWhileAliceAway(['a'], ['a'], { lastSeen: stored });
  // Another writer stores carol/z's end (later than carol/a's, at 0) between this write's read and its write: a
  // replica that has not yet noticed it lost the shard must not put its older end on top of the newer one.
  stored.race = { unixMs: 3, status: '', fullJid: 'carol@x/z' };
  await c.flushLastSeen();
  assert.deepEqual(await stored.get('carol'), { unixMs: 3, status: '', fullJid: 'carol@x/z', earlierEnds: [{ resource: 'a', unixMs: 0 }] });
});

/** Last-seen in memory where another write of carol's value lands right after her next read (`race`). */
class RacedLastSeen extends MemoryLastSeen {
  race: LastSeen | undefined;
  override async read(username: string): Promise<VersionedLastSeen> {
    const read = await super.read(username);
    const race = this.race;
    if (username === 'carol' && race !== undefined) {
      this.race = undefined;
      await this.put(username, race);
    }
    return read;
  }
}
