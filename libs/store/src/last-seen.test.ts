import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { store } from '@vigil/proto';
import { fromStored, LAST_SEEN_RESOURCES, mergeLastSeen, resourceEnds, toStored, type LastSeen } from './last-seen.js';

const end = (resource: string, unixMs: number, status = ''): LastSeen => ({ unixMs, status, fullJid: `carol@x/${resource}` });

test('each resource that ends is remembered once, newest first, the last one with its status', () => {
  let v: LastSeen | undefined;
  for (const [r, t] of [['a', 1], ['b', 2], ['a', 3], ['c', 4]] as const) v = mergeLastSeen(v, end(r, t, `bye ${r}`));
  assert.deepEqual(v, {
    unixMs: 4, status: 'bye c', fullJid: 'carol@x/c',
    earlierEnds: [{ resource: 'a', unixMs: 3 }, { resource: 'b', unixMs: 2 }],
  });
  assert.deepEqual(resourceEnds(v).map((e) => e.resource), ['c', 'a', 'b']);
});

test(`beyond ${LAST_SEEN_RESOURCES} resources the oldest end is dropped`, () => {
  let v: LastSeen | undefined;
  for (let i = 1; i <= LAST_SEEN_RESOURCES + 2; i++) v = mergeLastSeen(v, end(`r${i}`, i));
  assert.deepEqual(resourceEnds(v).map((e) => e.resource), ['r6', 'r5', 'r4', 'r3']);
  assert.equal(v?.earlierEnds?.length, LAST_SEEN_RESOURCES - 1);
});

test('a value stored before earlier ends existed reads as it did, and its last resource joins the next merge', () => {
  // An older version's bytes: fields 1–3 only.
  const old = store.StoredLastSeen.encode({ unixMs: 5, status: 'away', fullJid: 'carol@x/a', earlierEnds: [] }).finish();
  const read = fromStored(store.StoredLastSeen.decode(old));
  assert.deepEqual(read, { unixMs: 5, status: 'away', fullJid: 'carol@x/a' });
  assert.deepEqual(mergeLastSeen(read, end('b', 6)), { unixMs: 6, status: '', fullJid: 'carol@x/b', earlierEnds: [{ resource: 'a', unixMs: 5 }] });
  // Even older: no full JID at all.
  const bare = fromStored(store.StoredLastSeen.decode(store.StoredLastSeen.encode({ unixMs: 5, status: '', fullJid: '', earlierEnds: [] }).finish()));
  assert.deepEqual(bare, { unixMs: 5, status: '' });
  assert.deepEqual(mergeLastSeen(bare, end('b', 6)), end('b', 6));
});

test('a new value starts with the bytes an older reader knows, the earlier ends after them (it skips the unknown field)', () => {
  const v: LastSeen = { unixMs: 6, status: 's', fullJid: 'carol@x/b', earlierEnds: [{ resource: 'a', unixMs: 5 }] };
  const bytes = store.StoredLastSeen.encode(toStored(v)).finish();
  const withoutEnds = store.StoredLastSeen.encode({ ...toStored(v), earlierEnds: [] }).finish();
  assert.deepEqual(bytes.subarray(0, withoutEnds.length), withoutEnds);
  assert.deepEqual(fromStored(store.StoredLastSeen.decode(bytes)), v);
});

test('a stored value with duplicates or more ends than the cap reads deduplicated and capped', () => {
  const s: store.StoredLastSeen = {
    unixMs: 9, status: '', fullJid: 'carol@x/a',
    earlierEnds: ['a', 'b', 'b', 'c', 'd', 'e'].map((resource, i) => ({ resource, unixMs: 8 - i })),
  };
  assert.deepEqual(resourceEnds(fromStored(s)).map((e) => e.resource), ['a', 'b', 'c', 'd']);
});

test('on a tie the value merged in second wins, also over one with a resource, and its ends go first', () => {
  const withResource: LastSeen = { unixMs: 7, status: '', fullJid: 'c@x/a' };
  const legacy: LastSeen = { unixMs: 7, status: 'gone' };
  const m = mergeLastSeen(withResource, legacy);
  assert.deepEqual(m, { unixMs: 7, status: 'gone', earlierEnds: [{ resource: 'a', unixMs: 7 }] });
  assert.deepEqual(mergeLastSeen(m, withResource), { unixMs: 7, status: '', fullJid: 'c@x/a' });
  // Earlier ends at equal times: the second value's go first, so the cap keeps them.
  const first: LastSeen = { unixMs: 9, status: '', fullJid: 'c@x/z', earlierEnds: [{ resource: 'p', unixMs: 4 }, { resource: 'q', unixMs: 4 }, { resource: 'r', unixMs: 4 }] };
  const second: LastSeen = { unixMs: 9, status: '', fullJid: 'c@x/y', earlierEnds: [{ resource: 's', unixMs: 4 }] };
  assert.deepEqual(resourceEnds(mergeLastSeen(first, second)).map((e) => e.resource), ['y', 'z', 's', 'p']);
});

const arbValue = fc.record({
  unixMs: fc.nat(),
  status: fc.constantFrom('', 'x'),
  fullJid: fc.option(fc.constantFrom('c@x/a', 'c@x/b', 'c@x/c', 'c@x/d', 'c@x/e', 'c@x'), { nil: undefined }),
  earlierEnds: fc.array(fc.record({ resource: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), unixMs: fc.nat() }), { maxLength: 6 }),
}).map((v): LastSeen => {
  // Plain objects (fast-check's have no prototype, which deepEqual tells apart).
  const rest = { unixMs: v.unixMs, status: v.status, earlierEnds: v.earlierEnds.map(({ resource, unixMs }) => ({ resource, unixMs })) };
  return v.fullJid === undefined ? rest : { ...rest, fullJid: v.fullJid };
});

test('merging: the later end wins (the newer value on a tie), each resource once at its latest end, never more than the cap, the same result whichever value came first, and merging again changes nothing', () => {
  fc.assert(
    fc.property(fc.option(arbValue, { nil: undefined }), arbValue, (older, newer) => {
      const m = mergeLastSeen(older, newer);
      const top = older !== undefined && older.unixMs > newer.unixMs ? older : newer;
      assert.equal(m.unixMs, top.unixMs);
      assert.equal(m.status, top.status);
      assert.equal(m.fullJid, top.fullJid);
      const ends = resourceEnds(m).map((e) => e.resource);
      assert.ok(ends.length <= LAST_SEEN_RESOURCES);
      // store.proto: at most LAST_SEEN_RESOURCES − 1 earlier ends, a value without a last resource included.
      assert.ok((m.earlierEnds?.length ?? 0) <= LAST_SEEN_RESOURCES - 1, `${m.earlierEnds?.length} earlier ends`);
      assert.equal(new Set(ends).size, ends.length);
      // A remembered resource is remembered at the latest end either value knew of it.
      for (const e of m.earlierEnds ?? []) {
        const known = [...resourceEnds(older), ...resourceEnds(newer)].filter((x) => x.resource === e.resource).map((x) => x.unixMs);
        assert.equal(e.unixMs, Math.max(...known));
      }
      assert.deepEqual(mergeLastSeen(m, newer), m);
      if (older !== undefined) {
        // On equal times the value merged in second counts as the newer one (its last resource on top, its ends
        // first), so merging `older` in again as the second lets it win the tie: with a tie, in the last ends or among
        // the earlier ones, idempotence holds only for `newer` (seeds 2060153724 and -1127402963 found such ties,
        // session 9). Two writers converge likewise: with distinct times the order of the arguments does not matter.
        const times = [...resourceEnds(older), ...resourceEnds(newer)].map((x) => x.unixMs);
        const distinct = older.unixMs !== newer.unixMs && new Set(times).size === times.length;
        if (distinct) {
          assert.deepEqual(mergeLastSeen(m, older), m);
          assert.deepEqual(mergeLastSeen(newer, older), m);
        }
      }
      // Round trip through the stored form.
      assert.deepEqual(fromStored(store.StoredLastSeen.decode(store.StoredLastSeen.encode(toStored(m)).finish())), m);
    }),
  );
});
