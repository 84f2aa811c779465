import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LastSeen } from '@vigil/store';
import { InMemoryCluster, MemoryLastSeen } from './testing/in-memory.js';

/** A last-seen store whose writes wait until released, as a KV write still in flight does. */
class SlowLastSeen extends MemoryLastSeen {
  readonly #held: (() => void)[] = [];
  override async put(username: string, value: LastSeen): Promise<void> {
    await new Promise<void>((resolve) => this.#held.push(resolve));
    return super.put(username, value);
  }
  override async update(username: string, value: LastSeen, expectedRevision: number): Promise<number> {
    await new Promise<void>((resolve) => this.#held.push(resolve));
    return super.update(username, value, expectedRevision);
  }
  get held(): number {
    return this.#held.length;
  }
  release(): void {
    for (const r of this.#held.splice(0)) r();
  }
}

/** Turn by turn until `cond` holds, within a generous deadline (the write waits for a 500 ms pause first). */
async function untilAsync(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await cond())) {
    if (performance.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
const until = (cond: () => boolean, what: string): Promise<void> => untilAsync(async () => cond(), what);

/** A cluster in which bob@x/phone came online and went offline: his end is noted, its write queued behind the fan-out. */
async function bobWentOffline(store: MemoryLastSeen, contact?: string): Promise<InMemoryCluster> {
  const c = new InMemoryCluster({ lastSeen: store });
  if (contact !== undefined) await c.setItem('bob@x', contact, 'from');
  c.bind('bob@x/phone', 'n1');
  await c.presence('bob@x/phone', true);
  await c.presence('bob@x/phone', false);
  return c;
}

test('last activity (XEP-0012) asked right after the last resource went offline is answered before the store has the value', async () => {
  const store = new SlowLastSeen();
  const c = await bobWentOffline(store, 'alice@x');
  // The write is queued after the fan-out (and waits for a pause in session ends); a contact that saw the unavailable may ask at once.
  assert.equal(await store.get('bob'), undefined, 'the last-seen is not stored yet');
  const early = await c.lastActivity('alice@x/desk', 'bob@x');
  assert.match(early, /type='result'/);
  assert.match(early, /seconds='0'/);
  await until(() => store.held === 1, 'the last-seen write starts');
  store.release();
  await untilAsync(async () => (await store.get('bob')) !== undefined, 'the last-seen is stored');
  assert.deepEqual(await store.get('bob'), { unixMs: 0, status: '', fullJid: 'bob@x/phone' });
  assert.match(await c.lastActivity('alice@x/desk', 'bob@x'), /type='result'/);
});

test('a hand-over stores the last-seen at once instead of waiting for a pause in session ends', async () => {
  const store = new SlowLastSeen();
  const c = await bobWentOffline(store);
  const flushed = c.flushLastSeen();
  // Started without the 500 ms pause: the write is in flight within a few turns.
  for (let i = 0; i < 50 && store.held === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.held, 1, 'the last-seen write started at once');
  store.release();
  await flushed;
  assert.deepEqual(await store.get('bob'), { unixMs: 0, status: '', fullJid: 'bob@x/phone' });
});

test('account deletion: ends noted but not yet written are dropped, so nothing comes back after the removal', async () => {
  const store = new MemoryLastSeen();
  const c = await bobWentOffline(store);
  // The write is queued, waiting for a pause in session ends; the account is deleted meanwhile.
  assert.equal(await store.get('bob'), undefined, 'not written yet');
  await c.forgetLastSeen('bob@x');
  await store.remove('bob');
  // Whatever was still queued runs now: it must find nothing to write.
  await c.flushLastSeen();
  assert.equal(await store.get('bob'), undefined, 'no last activity stored for the deleted user');
});

test('account deletion waits for a write already running, so the removal comes after it', async () => {
  const store = new SlowLastSeen();
  const c = await bobWentOffline(store);
  void c.flushLastSeen();
  await until(() => store.held === 1, 'the last-seen write is running');
  let done = false;
  const forgotten = c.forgetLastSeen('bob@x').then(() => {
    done = true;
  });
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false, 'forgetLastSeen waits while the write is in flight');
  store.release();
  await forgotten;
  assert.notEqual(await store.get('bob'), undefined, 'the running write landed before forgetLastSeen returned');
  await store.remove('bob');
  await c.flushLastSeen();
  assert.equal(await store.get('bob'), undefined, 'and nothing is written after the removal');
});
