import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_RECORD, type RosterRecord } from '@vigil/store';
import { imported } from './owner-import.js';
import { pendingStanza, recordToWire } from './convert.js';
import type { PieAccount } from '@vigil/pie';

const account: PieAccount = {
  username: 'alice',
  scram: [],
  items: [{ jid: 'bob@localhost', name: 'Bob', subscription: 'both', pendingOut: false, approved: false, groups: ['Friends'] }],
  pendingIn: [{ from: 'carol@localhost', status: 'hi & hello' }],
  blocked: ['spam.example'],
};

describe('an imported roster record on the owner', () => {
  test('replaces items, pending requests and block list and moves the version on', () => {
    const current: RosterRecord = { ...EMPTY_RECORD, roster: { version: 7, items: [{ jid: 'old@localhost', name: '', subscription: 'to', pendingOut: false, groups: [] }] } };
    const next = imported(current, recordToWire(account), 1000);
    assert.ok(next);
    assert.equal(next.roster.version, 8);
    assert.deepEqual(next.roster.items.map((i) => [i.jid, i.subscription, [...i.groups]]), [['bob@localhost', 'both', ['Friends']]]);
    assert.deepEqual(next.pendingIn, [{ fromBareJid: 'carol@localhost', stanzaXml: pendingStanza('carol@localhost', 'hi & hello'), receivedAtUnixMs: 1000 }]);
    assert.deepEqual(next.blocked, ['spam.example']);
  });

  test('the same record again is no write, and a kept request keeps its arrival time', () => {
    const first = imported(EMPTY_RECORD, recordToWire(account), 1000);
    assert.ok(first);
    assert.equal(imported(first, recordToWire(account), 2000), undefined);
    const moreBlocked = imported(first, recordToWire({ ...account, blocked: ['spam.example', 'troll@evil.example'] }), 3000);
    assert.equal(moreBlocked?.pendingIn[0]?.receivedAtUnixMs, 1000);
  });

  test('the stored request stanza is what the XMPP path would store: no to, status escaped', () => {
    assert.equal(pendingStanza('c@localhost', ''), "<presence from='c@localhost' type='subscribe'/>");
    assert.equal(pendingStanza('c@localhost', 'a<b'), "<presence from='c@localhost' type='subscribe'><status>a&lt;b</status></presence>");
  });
});
