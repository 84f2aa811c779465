import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tryParseJid } from '@vigil/xmpp';
import {
  EMPTY_ROSTER, applyEdit, planRosterSet, removalStanzas,
  type Roster, type RosterEditCondition, type RosterItem, type RosterSetItem, type RosterSetOptions, type RosterSetPlan,
} from './index.js';

const OWNER = 'juliet@example.com';
const OPTIONS: RosterSetOptions = { maxItems: 10 };

const contact = (jid: string, over: Partial<RosterItem> = {}): RosterItem => ({
  jid, name: '', subscription: 'none', pendingOut: false, groups: [], ...over,
});
const roster = (...items: RosterItem[]): Roster => ({ version: 7, items });
const set = (item: Partial<RosterSetItem> & { jid: string }): RosterSetItem => ({ groups: [], ...item });

function plan(items: RosterSetItem[], current: Roster = roster(), options: RosterSetOptions = OPTIONS): RosterSetPlan {
  return planRosterSet(OWNER, current, items, options);
}

function assertError(result: RosterSetPlan, condition: RosterEditCondition): void {
  assert.equal(result.ok, false, 'expected an error');
  if (!result.ok) assert.equal(result.error.condition, condition, result.error.text);
}

function upserted(result: RosterSetPlan): RosterItem {
  assert.ok(result.ok, result.ok ? '' : result.error.text);
  assert.equal(result.edit.kind, 'upsert');
  if (result.edit.kind !== 'upsert') throw new assert.AssertionError({ message: 'not an upsert' });
  return result.edit.item;
}

test('a roster set with two items is a bad-request (§2.3.3)', () => {
  assertError(plan([set({ jid: 'nurse@example.com' }), set({ jid: 'mother@example.com' })]), 'bad-request');
});

test('a roster set with no item is a bad-request (§2.1.5)', () => {
  assertError(plan([]), 'bad-request');
});

test('a roster set sent by another account is forbidden (§2.1.5 security warning)', () => {
  assertError(plan([set({ jid: 'nurse@example.com' })], roster(), { ...OPTIONS, senderJid: 'romeo@example.net/orchard' }), 'forbidden');
});

test('a roster set from any resource of the owner is accepted', () => {
  upserted(plan([set({ jid: 'nurse@example.com' })], roster(), { ...OPTIONS, senderJid: 'Juliet@Example.com/balcony' }));
});

test('an item without a jid is a bad-request (§2.1.2.3)', () => {
  assertError(plan([set({ jid: '' })]), 'bad-request');
});

test('an item jid that is not a JID is jid-malformed', () => {
  for (const jid of ['nurse@', '@example.com', 'a@b@c', 'nurse@exa mple.com', 'nurse@example..com']) {
    assertError(plan([set({ jid })]), 'jid-malformed');
  }
});

test('an item jid with a resource is a bad-request: roster items are bare JIDs', () => {
  assertError(plan([set({ jid: 'nurse@example.com/kitchen' })]), 'bad-request');
});

test('the item jid is stored in canonical bare form and finds the existing item', () => {
  assert.equal(upserted(plan([set({ jid: 'Nurse@Example.COM' })])).jid, 'nurse@example.com');
  const current = roster(contact('nurse@example.com', { subscription: 'both' }));
  const item = upserted(plan([set({ jid: 'NURSE@example.com', name: 'Nurse' })], current));
  assert.deepEqual(item, contact('nurse@example.com', { subscription: 'both', name: 'Nurse' }));
});

test('a server JID (domain only) can be a roster item', () => {
  assert.equal(upserted(plan([set({ jid: 'gateway.example.com' })])).jid, 'gateway.example.com');
});

test("the user's own bare JID cannot be added to the roster (not-allowed, §2.3.3 interoperability note)", () => {
  assertError(plan([set({ jid: 'JULIET@example.com' })]), 'not-allowed');
});

test('a subscription attribute other than remove is ignored, not an error (§2.1.2.5)', () => {
  for (const subscription of ['both', 'to', 'from', 'none', 'nonsense']) {
    const item = upserted(plan([set({ jid: 'nurse@example.com', subscription })]));
    assert.equal(item.subscription, 'none', subscription);
  }
  const kept = upserted(plan([set({ jid: 'nurse@example.com', subscription: 'none' })], roster(contact('nurse@example.com', { subscription: 'from' }))));
  assert.equal(kept.subscription, 'from');
});

test('an ask attribute sent by the client is ignored (§2.1.2.2)', () => {
  assert.equal(upserted(plan([set({ jid: 'nurse@example.com', ask: 'subscribe' })])).pendingOut, false);
  const current = roster(contact('nurse@example.com', { pendingOut: true }));
  assert.equal(upserted(plan([set({ jid: 'nurse@example.com', ask: 'garbage' })], current)).pendingOut, true);
});

test('duplicate group names in one item are a bad-request (§2.3.3)', () => {
  assertError(plan([set({ jid: 'nurse@example.com', groups: ['Servants', 'Servants'] })]), 'bad-request');
});

test('group names are compared as resourceparts: NFC and spaces, but case matters', () => {
  assertError(plan([set({ jid: 'nurse@example.com', groups: ['Caf\u00e9', 'Cafe\u0301'] })]), 'bad-request');
  assertError(plan([set({ jid: 'nurse@example.com', groups: ['Old friends', 'Old\u00a0friends'] })]), 'bad-request');
  assert.deepEqual(upserted(plan([set({ jid: 'nurse@example.com', groups: ['Friends', 'friends'] })])).groups, ['Friends', 'friends']);
});

test('an empty group name is not-acceptable (§2.3.3)', () => {
  assertError(plan([set({ jid: 'nurse@example.com', groups: [''] })]), 'not-acceptable');
});

test('a name longer than the limit is not-acceptable, counted in UTF-8 octets (§2.3.3)', () => {
  const options = { ...OPTIONS, maxNameLength: 8 };
  assertError(plan([set({ jid: 'nurse@example.com', name: 'ninechars' })], roster(), options), 'not-acceptable');
  assertError(plan([set({ jid: 'nurse@example.com', name: '\u00e9\u00e9\u00e9\u00e9\u00e9' })], roster(), options), 'not-acceptable');
  assert.equal(upserted(plan([set({ jid: 'nurse@example.com', name: 'eightchr' })], roster(), options)).name, 'eightchr');
});

test('the default name limit is 1023 octets', () => {
  assertError(plan([set({ jid: 'nurse@example.com', name: 'x'.repeat(1024) })]), 'not-acceptable');
  upserted(plan([set({ jid: 'nurse@example.com', name: 'x'.repeat(1023) })]));
});

test('a group name longer than the limit is not-acceptable (§2.3.3)', () => {
  const options = { ...OPTIONS, maxGroupLength: 5 };
  assertError(plan([set({ jid: 'nurse@example.com', groups: ['Family'] })], roster(), options), 'not-acceptable');
  upserted(plan([set({ jid: 'nurse@example.com', groups: ['Staff'] })], roster(), options));
});

test('an item in more groups than the limit is not-acceptable', () => {
  const options = { ...OPTIONS, maxGroups: 2 };
  assertError(plan([set({ jid: 'nurse@example.com', groups: ['a', 'b', 'c'] })], roster(), options), 'not-acceptable');
  upserted(plan([set({ jid: 'nurse@example.com', groups: ['a', 'b'] })], roster(), options));
});

test('removing an item that is not in the roster is item-not-found (§2.5.3)', () => {
  assertError(plan([set({ jid: 'nurse@example.com', subscription: 'remove' })]), 'item-not-found');
});

test('removing an item hands back what it was, for the unsubscribe/unsubscribed that follow (§2.5.2)', () => {
  const previous = contact('nurse@example.com', { subscription: 'both', groups: ['Servants'] });
  const result = plan([set({ jid: 'Nurse@example.com', subscription: 'remove', groups: ['x', 'x'] })], roster(previous));
  assert.deepEqual(result, { ok: true, edit: { kind: 'remove', jid: 'nurse@example.com', previous } });
});

test('adding an item to a full roster is a policy-violation; updating or removing one is not', () => {
  const full = roster(contact('a@example.com'), contact('b@example.com'));
  const options = { ...OPTIONS, maxItems: 2 };
  assertError(plan([set({ jid: 'c@example.com' })], full, options), 'policy-violation');
  assert.equal(upserted(plan([set({ jid: 'b@example.com', name: 'B' })], full, options)).name, 'B');
  assert.ok(plan([set({ jid: 'a@example.com', subscription: 'remove' })], full, options).ok);
});

test('an update replaces name and groups exactly and keeps the subscription state (§2.4.1)', () => {
  const current = roster(contact('romeo@example.net', {
    name: 'Romeo', subscription: 'to', pendingOut: false, approved: true, groups: ['Friends'],
  }));
  const item = upserted(plan([set({ jid: 'romeo@example.net', name: 'MyRomeo', groups: ['Lovers'] })], current));
  assert.deepEqual(item, contact('romeo@example.net', { name: 'MyRomeo', subscription: 'to', approved: true, groups: ['Lovers'] }));
});

test('an update without name or groups clears the handle and all groups (§2.4.1)', () => {
  const current = roster(contact('romeo@example.net', { name: 'Romeo', groups: ['Friends'] }));
  const item = upserted(plan([set({ jid: 'romeo@example.net' })], current));
  assert.equal(item.name, '');
  assert.deepEqual(item.groups, []);
});

test('a new item starts with no subscription (§2.3.2)', () => {
  const item = upserted(plan([set({ jid: 'nurse@example.com', name: 'Nurse', groups: ['Servants'] })]));
  assert.deepEqual(item, contact('nurse@example.com', { name: 'Nurse', groups: ['Servants'] }));
});

test('applyEdit adds at the end, replaces in place, removes, and always moves the version on by one (§2.6)', () => {
  const start = roster(contact('a@example.com'), contact('b@example.com'));
  const added = applyEdit(start, { kind: 'upsert', item: contact('c@example.com') });
  assert.deepEqual(added.items.map((i) => i.jid), ['a@example.com', 'b@example.com', 'c@example.com']);
  assert.equal(added.version, 8);
  const renamed = applyEdit(added, { kind: 'upsert', item: contact('a@example.com', { name: 'A' }) });
  assert.deepEqual(renamed.items.map((i) => [i.jid, i.name]), [['a@example.com', 'A'], ['b@example.com', ''], ['c@example.com', '']]);
  assert.equal(renamed.version, 9);
  const removed = applyEdit(renamed, { kind: 'remove', jid: 'b@example.com', previous: contact('b@example.com') });
  assert.deepEqual(removed.items.map((i) => i.jid), ['a@example.com', 'c@example.com']);
  assert.equal(removed.version, 10);
  assert.equal(start.items.length, 2, 'the input roster is not modified');
});

test('removing an item cancels whatever subscription or request existed, both ways (§2.5.2)', () => {
  const cases: [Parameters<typeof removalStanzas>[0], string[]][] = [
    [{ subscription: 'both', pendingOut: false }, ['unsubscribe', 'unsubscribed']],
    [{ subscription: 'to', pendingOut: false }, ['unsubscribe']],
    [{ subscription: 'from', pendingOut: false }, ['unsubscribed']],
    [{ subscription: 'none', pendingOut: false }, []],
    [{ subscription: 'none', pendingOut: true }, ['unsubscribe']],
    [{ subscription: 'to', pendingOut: false, pendingIn: true }, ['unsubscribe', 'unsubscribed']],
    [{ subscription: 'from', pendingOut: true }, ['unsubscribe', 'unsubscribed']],
  ];
  for (const [previous, expected] of cases) assert.deepEqual(removalStanzas(previous), expected, JSON.stringify(previous));
});

test('no sequence of roster sets yields duplicate JIDs, a non-canonical JID, the owner, or more than maxItems items', () => {
  const jid = fc.oneof(
    fc.constantFrom('a@example.com', 'A@Example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com',
      'example.com', 'juliet@example.com', 'Juliet@EXAMPLE.com', 'a@example.com/res', 'bad@', ''),
    fc.tuple(fc.constantFrom('x', 'y', 'z', 'X'), fc.constantFrom('example.com', 'EXAMPLE.org')).map(([l, d]) => `${l}@${d}`),
  );
  const item = fc.record({
    jid,
    name: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
    subscription: fc.option(fc.constantFrom('remove', 'both', 'none'), { nil: undefined }),
    groups: fc.array(fc.constantFrom('', 'Friends', 'Family', 'friends'), { maxLength: 3 }),
  });
  const request = fc.array(item, { minLength: 0, maxLength: 2 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4 }), fc.array(request, { maxLength: 40 }), (maxItems, requests) => {
      let current: Roster = EMPTY_ROSTER;
      for (const items of requests) {
        const result = planRosterSet(OWNER, current, items, { maxItems });
        const next = result.ok ? applyEdit(current, result.edit) : current;
        assert.equal(next.version, current.version + (result.ok ? 1 : 0));
        const jids = next.items.map((i) => i.jid);
        assert.equal(new Set(jids).size, jids.length, `duplicates in ${jids.join(', ')}`);
        assert.ok(next.items.length <= maxItems, `${next.items.length} items, limit ${maxItems}`);
        for (const j of jids) {
          assert.equal(tryParseJid(j)?.toBareString(), j);
          assert.notEqual(j, OWNER);
        }
        current = next;
      }
    }),
    { numRuns: 500 },
  );
});
