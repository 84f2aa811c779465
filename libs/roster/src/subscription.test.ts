import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL_STATES, INBOUND_TABLE, NO_SUBSCRIPTION, OUTBOUND_TABLE, SUBSCRIPTION_STANZAS,
  canonicalState, inbound, outbound, rosterItemChanged, stateFromName, stateName, subscriberChange,
  type SubscriptionStanza, type SubscriptionState,
} from './index.js';

const named = (name: string): SubscriptionState => {
  const s = stateFromName(name);
  assert.ok(s, `unknown state name ${name}`);
  return s;
};

const APPENDIX_A_NAMES = [
  'None', 'None + Pending Out', 'None + Pending In', 'None + Pending Out+In',
  'To', 'To + Pending In', 'From', 'From + Pending Out', 'Both',
];

test('the states are the nine of RFC 6121 Appendix A.1 and the three that can be pre-approved', () => {
  assert.deepEqual(ALL_STATES.map(stateName), [
    ...APPENDIX_A_NAMES,
    'None (pre-approved)', 'None + Pending Out (pre-approved)', 'To (pre-approved)',
  ]);
  assert.equal(stateName(NO_SUBSCRIPTION), 'None');
  for (const s of ALL_STATES) assert.deepEqual(stateFromName(stateName(s)), s);
});

for (const [label, table] of [['OUTBOUND_TABLE', OUTBOUND_TABLE], ['INBOUND_TABLE', INBOUND_TABLE]] as const) {
  test(`${label} has exactly one row for every state and stanza, and only known states`, () => {
    for (const s of ALL_STATES) {
      for (const stanza of SUBSCRIPTION_STANZAS) {
        const rows = table.filter((r) => r.from === stateName(s) && r.stanza === stanza);
        assert.equal(rows.length, 1, `${stateName(s)} × ${stanza}`);
      }
    }
    assert.equal(table.length, ALL_STATES.length * SUBSCRIPTION_STANZAS.length);
    for (const row of table) assert.ok(stateFromName(row.to), `row target ${row.to}`);
  });

  test(`${label} pushes exactly when the roster item a client sees changes`, () => {
    for (const row of table) {
      assert.equal(row.push, rosterItemChanged(named(row.from), named(row.to)), `${row.from} × ${row.stanza}`);
    }
  });
}

test('outbound() does what its row in OUTBOUND_TABLE says, for every row', () => {
  for (const row of OUTBOUND_TABLE) {
    const d = outbound(named(row.from), row.stanza);
    assert.deepEqual(
      { to: stateName(d.state), route: d.route, push: d.push },
      { to: row.to, route: row.route, push: row.push },
      `${row.from} × ${row.stanza}`,
    );
  }
});

test('inbound() does what its row in INBOUND_TABLE says, for every row', () => {
  for (const row of INBOUND_TABLE) {
    const d = inbound(named(row.from), row.stanza);
    assert.deepEqual(
      { to: stateName(d.state), deliver: d.deliver, push: d.push, autoReply: d.autoReply },
      { to: row.to, deliver: row.deliver, push: row.push, autoReply: row.autoReply },
      `${row.from} × ${row.stanza}`,
    );
  }
});

// RFC 6121 Tables 2–9 transcribed verbatim (ROUTE?/DELIVER? column and NEW
// STATE, rows in the RFC's order), to check the first 36 rows of each table.
const NSC = 'no state change';
const PRE = 'pre-approval [1]';
type RfcColumn = readonly (readonly [string, string])[];
const RFC_OUTBOUND: Record<SubscriptionStanza, RfcColumn> = {
  subscribe: [['MUST', 'None + Pending Out'], ['MUST', NSC], ['MUST', 'None + Pending Out+In'], ['MUST', NSC],
    ['MUST', NSC], ['MUST', NSC], ['MUST', 'From + Pending Out'], ['MUST', NSC], ['MUST', NSC]],
  unsubscribe: [['MUST', NSC], ['MUST', 'None'], ['MUST', NSC], ['MUST', 'None + Pending In'], ['MUST', 'None'],
    ['MUST', 'None + Pending In'], ['MUST', NSC], ['MUST', 'From'], ['MUST', 'From']],
  subscribed: [['M.N.', PRE], ['M.N.', PRE], ['MUST', 'From'], ['MUST', 'From + Pending Out'], ['M.N.', PRE],
    ['MUST', 'Both'], ['M.N.', NSC], ['M.N.', NSC], ['M.N.', NSC]],
  unsubscribed: [['S.N.', NSC], ['S.N.', NSC], ['MUST', 'None'], ['MUST', 'None + Pending Out'], ['S.N.', NSC],
    ['MUST', 'To'], ['MUST', 'None'], ['MUST', 'None + Pending Out'], ['MUST', 'To']],
};
const RFC_INBOUND: Record<SubscriptionStanza, RfcColumn> = {
  subscribe: [['MUST', 'None + Pending In'], ['MUST', 'None + Pending Out+In'], ['S.N.', NSC], ['S.N.', NSC],
    ['MUST', 'To + Pending In'], ['S.N.', NSC], ['S.N.', NSC], ['S.N.', NSC], ['S.N.', NSC]],
  unsubscribe: [['S.N.', NSC], ['S.N.', NSC], ['MUST', 'None'], ['MUST', 'None + Pending Out'], ['S.N.', NSC],
    ['MUST', 'To'], ['MUST', 'None'], ['MUST', 'None + Pending Out'], ['MUST', 'To']],
  subscribed: [['S.N.', NSC], ['MUST', 'To'], ['S.N.', NSC], ['MUST', 'To + Pending In'], ['S.N.', NSC],
    ['S.N.', NSC], ['S.N.', NSC], ['MUST', 'Both'], ['S.N.', NSC]],
  unsubscribed: [['S.N.', NSC], ['MUST', 'None'], ['S.N.', NSC], ['MUST', 'None + Pending In'], ['MUST', 'None'],
    ['MUST', 'None + Pending In'], ['S.N.', NSC], ['MUST', 'From'], ['MUST', 'From']],
};

function checkAgainstRfc(
  table: readonly { from: string; stanza: SubscriptionStanza; to: string }[],
  rfc: Record<SubscriptionStanza, RfcColumn>,
  flag: (row: number) => boolean,
): void {
  const order: SubscriptionStanza[] = ['subscribe', 'unsubscribe', 'subscribed', 'unsubscribed'];
  order.forEach((stanza, block) => {
    rfc[stanza].forEach(([must, newState], i) => {
      const at = block * 9 + i;
      const row = table[at];
      assert.ok(row);
      assert.equal(row.from, APPENDIX_A_NAMES[i]);
      assert.equal(row.stanza, stanza);
      const expected = newState === NSC ? row.from : newState === PRE ? `${row.from} (pre-approved)` : newState;
      assert.equal(row.to, expected, `${row.from} × ${stanza}`);
      assert.equal(flag(at), must === 'MUST', `${row.from} × ${stanza}: ${must}`);
    });
  });
}

test('the first 36 outbound rows are RFC 6121 Tables 2–5, in order', () => {
  checkAgainstRfc(OUTBOUND_TABLE, RFC_OUTBOUND, (i) => OUTBOUND_TABLE[i]?.route === true);
});

test('the first 36 inbound rows are RFC 6121 Tables 6–9, in order', () => {
  checkAgainstRfc(INBOUND_TABLE, RFC_INBOUND, (i) => INBOUND_TABLE[i]?.deliver === true);
});

test('an outbound subscribed with no request pending is a pre-approval: pushed, never routed (§3.4.2)', () => {
  for (const from of ['None', 'None + Pending Out', 'To']) {
    const d = outbound(named(from), 'subscribed');
    assert.equal(d.state.approved, true, from);
    assert.equal(d.state.subscription, named(from).subscription);
    assert.equal(d.route, false);
    assert.equal(d.push, true);
  }
  assert.deepEqual(outbound(NO_SUBSCRIPTION, 'subscribed').state, named('None (pre-approved)'));
});

test('an outbound subscribed answering a pending request is routed and makes the contact a subscriber (§3.1.5)', () => {
  assert.deepEqual(outbound(named('None + Pending In'), 'subscribed'), { state: named('From'), route: true, push: true });
  assert.equal(stateName(outbound(named('To + Pending In'), 'subscribed').state), 'Both');
  assert.equal(stateName(outbound(named('None + Pending Out+In'), 'subscribed').state), 'From + Pending Out');
});

test('an outbound subscribed to a contact already subscribed is silently ignored (§3.4.2 rule 1)', () => {
  for (const from of ['From', 'From + Pending Out', 'Both']) {
    assert.deepEqual(outbound(named(from), 'subscribed'), { state: named(from), route: false, push: false });
  }
});

test('an outbound unsubscribed cancels a pre-approval without routing it (§3.2.2 rule 2)', () => {
  for (const base of ['None', 'None + Pending Out', 'To']) {
    const d = outbound(named(`${base} (pre-approved)`), 'unsubscribed');
    assert.deepEqual(d, { state: named(base), route: false, push: true });
  }
});

test('an outbound unsubscribed with nothing to cancel is not routed (§3.2.2 rule 1)', () => {
  for (const from of ['None', 'None + Pending Out', 'To']) assert.equal(outbound(named(from), 'unsubscribed').route, false);
});

test('an inbound subscribe from a stranger is delivered for approval and pushes no roster item (§3.1.3)', () => {
  assert.deepEqual(inbound(NO_SUBSCRIPTION, 'subscribe'), { state: named('None + Pending In'), deliver: true, push: false });
});

test('an inbound subscribe from a pre-approved contact is approved by the server, not delivered (§3.4)', () => {
  const cases: [string, string][] = [
    ['None (pre-approved)', 'From'],
    ['None + Pending Out (pre-approved)', 'From + Pending Out'],
    ['To (pre-approved)', 'Both'],
  ];
  for (const [from, to] of cases) {
    assert.deepEqual(inbound(named(from), 'subscribe'), { state: named(to), deliver: false, push: true, autoReply: 'subscribed' });
  }
});

test('an inbound subscribe from a contact that is already a subscriber is answered subscribed, not delivered (§3.1.3)', () => {
  for (const from of ['From', 'From + Pending Out', 'Both']) {
    assert.deepEqual(inbound(named(from), 'subscribe'), { state: named(from), deliver: false, push: false, autoReply: 'subscribed' });
  }
});

test('a repeated inbound subscribe is not delivered again (A.3.1)', () => {
  for (const from of ['None + Pending In', 'None + Pending Out+In', 'To + Pending In']) {
    assert.deepEqual(inbound(named(from), 'subscribe'), { state: named(from), deliver: false, push: false });
  }
});

test('an inbound subscribed without our request pending is silently ignored (§3.1.6)', () => {
  for (const from of ['None', 'None + Pending In', 'To', 'From', 'Both', 'None (pre-approved)']) {
    assert.deepEqual(inbound(named(from), 'subscribed'), { state: named(from), deliver: false, push: false });
  }
});

test('an inbound unsubscribe that ends the contact’s subscription is delivered, pushed and acknowledged (§3.3.3, A.3.2)', () => {
  assert.deepEqual(inbound(named('Both'), 'unsubscribe'), { state: named('To'), deliver: true, push: true, autoReply: 'unsubscribed' });
  assert.deepEqual(inbound(named('To'), 'unsubscribe'), { state: named('To'), deliver: false, push: false });
});

test('stanzas about the user’s own subscription leave a pre-approval in place', () => {
  assert.equal(outbound(named('None (pre-approved)'), 'subscribe').state.approved, true);
  assert.equal(inbound(named('None + Pending Out (pre-approved)'), 'subscribed').state.approved, true);
  assert.equal(inbound(named('To (pre-approved)'), 'unsubscribed').state.approved, true);
});

test('flags that cannot hold in a subscription are dropped before the table is read', () => {
  const odd: SubscriptionState = { subscription: 'both', pendingOut: true, pendingIn: true, approved: true };
  assert.deepEqual(canonicalState(odd), named('Both'));
  assert.equal(stateName(odd), 'Both');
  assert.deepEqual(outbound(odd, 'unsubscribe'), outbound(named('Both'), 'unsubscribe'));
  const approvedWithRequest: SubscriptionState = { subscription: 'none', pendingOut: false, pendingIn: true, approved: true };
  assert.equal(stateName(approvedWithRequest), 'None + Pending In');
  assert.equal(stateName({ subscription: 'to', pendingOut: true, pendingIn: false, approved: false }), 'To');
});

test('stateName spells the pre-approval after the Appendix A name', () => {
  assert.equal(stateName({ subscription: 'none', pendingOut: true, pendingIn: false, approved: true }), 'None + Pending Out (pre-approved)');
  assert.equal(stateName({ subscription: 'from', pendingOut: true, pendingIn: false, approved: false }), 'From + Pending Out');
  assert.equal(stateName({ subscription: 'none', pendingOut: true, pendingIn: true, approved: false }), 'None + Pending Out+In');
});

test('subscriberChange names the moments presence must be sent or withdrawn', () => {
  const approve = outbound(named('None + Pending In'), 'subscribed');
  assert.equal(subscriberChange(named('None + Pending In'), approve.state), 'approved');
  const cancel = outbound(named('Both'), 'unsubscribed');
  assert.equal(subscriberChange(named('Both'), cancel.state), 'cancelled');
  const dropped = inbound(named('From'), 'unsubscribe');
  assert.equal(subscriberChange(named('From'), dropped.state), 'cancelled');
  assert.equal(subscriberChange(named('To'), inbound(named('To'), 'unsubscribed').state), 'unchanged');
});
