import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateAccounts } from './validate.js';
import type { PieAccount, PieItem, Subscription } from './model.js';

const O = { domain: 'localhost', maxRosterItems: 3 };
const item = (jid: string, subscription: Subscription = 'both', pendingOut = false): PieItem => ({ jid, name: '', subscription, pendingOut, approved: false, groups: [] });
const acct = (username: string, more: Partial<PieAccount> = {}): PieAccount => ({ username, password: `${username}-pass`, scram: [], items: [], pendingIn: [], blocked: [], ...more });

describe('import validation', () => {
  test('usernames and JIDs are normalized (RFC 7622)', () => {
    const { accounts, problems } = validateAccounts([acct('Alice', { items: [item('Bob@LocalHost')], blocked: ['EVIL.example'] }), acct('bob', { items: [item('alice@localhost')] })], O);
    assert.deepEqual(problems, []);
    assert.equal(accounts[0]?.username, 'alice');
    assert.equal(accounts[0]?.items[0]?.jid, 'bob@localhost');
    assert.deepEqual(accounts[0]?.blocked, ['evil.example']);
  });

  test('each bad field is an error on its account; the others stay valid', () => {
    const { invalid, problems } = validateAccounts(
      [
        acct('ok'),
        acct('bad user'),
        acct('short', { password: 'x' }),
        acct('items', { items: [item('a@localhost/phone'), item('items@localhost'), item('b@localhost'), item('b@localhost')] }),
        acct('many', { items: [item('a@x'), item('b@x'), item('c@x'), item('d@x')] }),
        acct('ok'),
      ],
      O,
    );
    assert.deepEqual([...invalid].sort(), [1, 2, 3, 4, 5]);
    assert.deepEqual(
      problems.filter((p) => p.severity === 'error').map((p) => [p.account, p.field]),
      [
        [1, 'username'],
        [2, 'password'],
        [3, 'items[0].jid'],
        [3, 'items[1].jid'],
        [3, 'items[3].jid'],
        [4, 'items'],
        [5, 'username'],
      ],
    );
  });

  test('a JID refused by PRECIS is an error on its field that says why', () => {
    const { problems } = validateAccounts([acct('\ufb01x'), acct('ok', { items: [item('x@localhost/a\u200bb')], blocked: ['\u265a@localhost'] })], O);
    const byField = new Map(problems.map((p) => [`${p.account} ${p.field}`, p.message]));
    assert.match(byField.get('0 username') ?? '', /not a valid JID localpart: localpart contains a compatibility character .*U\+FB01/);
    assert.match(byField.get('1 items[0].jid') ?? '', /not a valid JID: resourcepart contains a default-ignorable .*U\+200B/);
    assert.match(byField.get('1 blocked[0]') ?? '', /not a valid JID: localpart contains a symbol: U\+265A/);
  });

  test('an account without credentials is a warning, not an error', () => {
    const { invalid, problems } = validateAccounts([{ ...acct('nokeys'), password: undefined } as PieAccount], O);
    assert.equal(invalid.size, 0);
    assert.match(problems[0]?.message ?? '', /neither a password nor SCRAM keys/);
  });

  test('subscriptions that disagree between two imported users are warnings, and nothing is repaired', () => {
    const input = [
      acct('alice', { items: [item('bob@localhost', 'both'), item('carol@localhost', 'to', true), item('outsider@localhost', 'to')] }),
      acct('bob', { items: [item('alice@localhost', 'to')] }),
      acct('carol', { items: [item('alice@localhost', 'from')] }),
    ];
    const { accounts, problems, invalid } = validateAccounts(input, O);
    assert.equal(invalid.size, 0);
    assert.deepEqual(
      problems.map((p) => [p.account, p.field, p.message]),
      [
        [0, 'items[0]', "alice@localhost has bob@localhost as 'both' but bob@localhost has alice@localhost as 'to': imported as written"],
        [0, 'items[1]', 'alice@localhost awaits an answer from carol@localhost, who has no request from alice@localhost'],
      ],
    );
    assert.equal(accounts[1]?.items[0]?.subscription, 'to');
  });

  test('a consistent pair, a pending request on both sides and a contact outside the import give no warning', () => {
    const input = [
      acct('alice', { items: [item('bob@localhost', 'both'), item('dave@localhost', 'none', true), item('x@elsewhere.example', 'both')] }),
      acct('bob', { items: [item('alice@localhost', 'both')] }),
      acct('dave', { pendingIn: [{ from: 'alice@localhost', status: '' }] }),
    ];
    assert.deepEqual(validateAccounts(input, O).problems, []);
  });
});
