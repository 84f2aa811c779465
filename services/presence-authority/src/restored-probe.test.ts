import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Received } from '@vigil/testkit';
import { InMemoryCluster } from './testing/in-memory.js';

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

test('a contact who came back before the restored probe is answered with its presence, not an unavailable', async () => {
  const c = await aliceAwayWhileCarolLeaves();
  c.bind('carol@x/tablet', 'n2');
  await c.presence('carol@x/tablet', true);
  await c.presence(ALICE, true, { restored: true });
  const got = toAlice(c);
  assert.ok(got.includes('carol@x/tablet available'), got.join('\n'));
  assert.ok(!got.some((r) => r.startsWith('carol@x') && r.endsWith('unavailable')), got.join('\n'));
});
