import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  broadcastRecipients, mayAnswerProbe, probeTargets, bareOf, broadcastJids, rosterView, viewMayAnswerProbe,
  type Roster, type RosterItem, type SessionPresence, type Subscription,
} from './index.js';

const item = (jid: string, subscription: Subscription): RosterItem => ({ jid, name: '', subscription, pendingOut: false, groups: [] });
const roster = (...items: RosterItem[]): Roster => ({ version: 1, items });
const session = (over: Partial<SessionPresence> = {}): SessionPresence => ({
  fullJid: 'alice@localhost/phone', available: true, directedTo: new Set(), presenceErrorsFrom: new Set(), ...over,
});

test('only contacts with from or both subscriptions receive broadcast presence', () => {
  const r = roster(item('none@x', 'none'), item('to@x', 'to'), item('from@x', 'from'), item('both@x', 'both'));
  const got = broadcastRecipients({ roster: r, session: session(), blocked: new Set(), otherResources: [] }, 'unavailable');
  assert.deepEqual(got, [{ jid: 'from@x', reason: 'subscriber' }, { jid: 'both@x', reason: 'subscriber' }]);
});

test('blocked contacts and contacts that returned a presence error are left out', () => {
  const r = roster(item('a@x', 'both'), item('b@x', 'both'), item('c@x', 'from'));
  const got = broadcastRecipients(
    { roster: r, session: session({ presenceErrorsFrom: new Set(['b@x']) }), blocked: new Set(['c@x']), otherResources: [] },
    'available',
  );
  assert.deepEqual(got.map((x) => x.jid), ['a@x']);
});

test("the user's other resources get it, the resource itself does not", () => {
  const got = broadcastRecipients(
    { roster: roster(), session: session(), blocked: new Set(), otherResources: ['alice@localhost/phone', 'alice@localhost/desk'] },
    'unavailable',
  );
  assert.deepEqual(got, [{ jid: 'alice@localhost/desk', reason: 'own-resource' }]);
});

test('directed-presence targets get unavailable but not the available broadcast', () => {
  const s = session({ directedTo: new Set(['room@conf/alice', 'both@x/r']) });
  const r = roster(item('both@x', 'both'));
  const unavailable = broadcastRecipients({ roster: r, session: s, blocked: new Set(), otherResources: [] }, 'unavailable');
  // both@x is already a subscriber: its bare JID reaches every resource, so no second copy.
  assert.deepEqual(unavailable, [{ jid: 'both@x', reason: 'subscriber' }, { jid: 'room@conf/alice', reason: 'directed' }]);
  const available = broadcastRecipients({ roster: r, session: s, blocked: new Set(), otherResources: [] }, 'available');
  assert.deepEqual(available.map((x) => x.jid), ['both@x']);
});

test('probes go to to/both contacts that are not blocked', () => {
  const r = roster(item('none@x', 'none'), item('to@x', 'to'), item('from@x', 'from'), item('both@x', 'both'), item('blk@x', 'both'));
  assert.deepEqual(probeTargets(r, new Set(['blk@x'])), ['to@x', 'both@x']);
});

test('a probe is answered only for a from/both subscriber that is not blocked', () => {
  const r = roster(item('to@x', 'to'), item('from@x', 'from'), item('both@x', 'both'));
  assert.equal(mayAnswerProbe(r, 'from@x', new Set()), true);
  assert.equal(mayAnswerProbe(r, 'both@x', new Set()), true);
  assert.equal(mayAnswerProbe(r, 'to@x', new Set()), false);
  assert.equal(mayAnswerProbe(r, 'stranger@x', new Set()), false);
  assert.equal(mayAnswerProbe(r, 'both@x', new Set(['both@x'])), false);
});

const subscriptionArb = fc.constantFrom<Subscription>('none', 'to', 'from', 'both');
const jidArb = fc.constantFrom('a@x', 'b@x', 'c@x', 'd@y', 'e@y');

test('no leak: every recipient is a subscriber, an own resource or a directed target', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(jidArb, subscriptionArb), { selector: ([j]) => j }),
      fc.subarray(['a@x', 'b@x', 'c@x']),
      fc.subarray(['a@x/r', 'z@q/1', 'd@y/2']),
      fc.subarray(['alice@localhost/phone', 'alice@localhost/desk']),
      fc.constantFrom<'available' | 'unavailable'>('available', 'unavailable'),
      (items, blocked, directed, others, kind) => {
        const r = roster(...items.map(([j, s]) => item(j, s)));
        const s = session({ directedTo: new Set(directed) });
        const got = broadcastRecipients({ roster: r, session: s, blocked: new Set(blocked), otherResources: others }, kind);
        for (const rcpt of got) {
          const it = r.items.find((i) => i.jid === bareOf(rcpt.jid));
          const allowed =
            (rcpt.reason === 'subscriber' && (it?.subscription === 'from' || it?.subscription === 'both')) ||
            (rcpt.reason === 'own-resource' && others.includes(rcpt.jid) && rcpt.jid !== s.fullJid) ||
            (rcpt.reason === 'directed' && kind === 'unavailable' && directed.includes(rcpt.jid));
          assert.ok(allowed, `leak to ${rcpt.jid} (${rcpt.reason})`);
          assert.ok(!blocked.includes(bareOf(rcpt.jid)), `blocked ${rcpt.jid} got presence`);
        }
        assert.equal(new Set(got.map((x) => x.jid)).size, got.length, 'duplicate recipient');
      },
    ),
  );
});

test('a blocked domain blocks every account of it from broadcasts and probes', () => {
  const r = roster(item('a@x', 'both'), item('b@y', 'both'));
  const got = broadcastRecipients({ roster: r, session: session(), blocked: new Set(['x']), otherResources: [] }, 'available');
  assert.deepEqual(got.map((g) => g.jid), ['b@y']);
  assert.deepEqual(probeTargets(r, new Set(['x'])), ['b@y']);
  assert.equal(mayAnswerProbe(r, 'a@x', new Set(['x'])), false);
});

const viewItemsArb = fc.array(fc.tuple(jidArb, subscriptionArb), { maxLength: 8 });
const blockedArb = fc.subarray(['a@x', 'c@x', 'y', 'e@y']);

test('a roster view gives the same broadcast recipients, in the same order, as broadcastRecipients', () => {
  fc.assert(
    fc.property(
      viewItemsArb, blockedArb,
      fc.subarray(['a@x/r', 'z@q/1', 'd@y/2', 'b@x']),
      fc.subarray(['a@x', 'b@x', 'd@y']),
      fc.subarray(['alice@localhost/phone', 'alice@localhost/desk', 'alice@localhost/tab']),
      fc.constantFrom<'available' | 'unavailable'>('available', 'unavailable'),
      (items, blocked, directed, errors, others, kind) => {
        const r = roster(...items.map(([j, s]) => item(j, s)));
        const s = session({ directedTo: new Set(directed), presenceErrorsFrom: new Set(errors) });
        const want = broadcastRecipients({ roster: r, session: s, blocked: new Set(blocked), otherResources: others }, kind).map((x) => x.jid);
        assert.deepEqual([...broadcastJids(rosterView(r, blocked), s, others, kind)], want);
      },
    ),
  );
});

test('a roster view gives the same probe targets and probe answers as the roster and block list', () => {
  fc.assert(
    fc.property(viewItemsArb, blockedArb, fc.constantFrom('a@x', 'b@x', 'c@x', 'd@y', 'e@y', 'q@z'), (items, blocked, prober) => {
      const r = roster(...items.map(([j, s]) => item(j, s)));
      const view = rosterView(r, blocked);
      assert.deepEqual([...view.probeTargets], probeTargets(r, new Set(blocked)));
      assert.equal(viewMayAnswerProbe(view, prober), mayAnswerProbe(r, prober, new Set(blocked)));
    }),
  );
});
