import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePie } from './parse.js';
import { writeDocument } from './write.js';
import { generatePopulation } from './generate.js';
import { validateAccounts } from './validate.js';
import type { PieAccount, PieItem } from './model.js';

const strip = (a: PieAccount): unknown => ({
  ...a,
  at: undefined,
  scram: a.scram.map((c) => ({ ...c })),
  items: a.items.map((i) => ({ ...i, at: undefined, groups: [...i.groups] })),
  pendingIn: a.pendingIn.map((p) => ({ ...p, at: undefined })),
});

const text = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }).filter((s) => s.trim() === s && s !== '');
const local = fc.stringMatching(/^[a-z][a-z0-9._-]{0,10}$/);

const item: fc.Arbitrary<PieItem> = fc.record({
  jid: local.map((l) => `${l}@example.org`),
  name: fc.oneof(fc.constant(''), text),
  subscription: fc.constantFrom('none', 'to', 'from', 'both'),
  pendingOut: fc.boolean(),
  approved: fc.boolean(),
  groups: fc.uniqueArray(text, { maxLength: 3 }),
});

const account: fc.Arbitrary<PieAccount> = fc.record({
  username: local,
  password: fc.option(fc.string({ minLength: 4, maxLength: 20 }), { nil: undefined }),
  scram: fc.array(
    fc.record({
      hash: fc.constant('sha256' as const),
      salt: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b)),
      iterations: fc.integer({ min: 4096, max: 100_000 }),
      storedKey: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
      serverKey: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
    }),
    { maxLength: 1 },
  ),
  items: fc.uniqueArray(item, { maxLength: 5, selector: (i) => i.jid }),
  pendingIn: fc.uniqueArray(fc.record({ from: local.map((l) => `${l}@example.org`), status: fc.oneof(fc.constant(''), text) }), { maxLength: 3, selector: (p) => p.from }),
  blocked: fc.uniqueArray(local.map((l) => `${l}@evil.example`), { maxLength: 3 }),
}).map((a) => (a.password === undefined ? (({ password: _, ...rest }) => rest)(a) : a));

describe('XEP-0227 writer', () => {
  test('what the writer writes, the parser reads back unchanged (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(account, { maxLength: 6, selector: (a) => a.username }), (accounts) => {
        const { hosts, problems } = parsePie(writeDocument('localhost', accounts), 'round.xml');
        assert.deepEqual(problems.filter((p) => p.severity === 'error'), []);
        assert.deepEqual((hosts[0]?.accounts ?? []).map(strip), accounts.map(strip));
      }),
      { numRuns: 200 },
    );
  });

  test('one element per line: an entry is reported at its own line', () => {
    const doc = writeDocument('localhost', [
      { username: 'a', password: 'a-pass', scram: [], items: [], pendingIn: [], blocked: [] },
      { username: 'b', password: 'b-pass', scram: [], items: [{ jid: 'not a jid@@', name: '', subscription: 'both', pendingOut: false, approved: false, groups: [] }], pendingIn: [], blocked: [] },
    ]);
    const parsed = parsePie(doc, 'lines.xml').hosts[0]?.accounts ?? [];
    const { problems } = validateAccounts(parsed, { domain: 'localhost', maxRosterItems: 100 });
    const line = doc.split('\n').findIndex((l) => l.includes('not a jid')) + 1;
    assert.deepEqual(problems.map((p) => [p.field, p.at?.line]), [['items[0].jid', line]]);
  });
});

describe('population generator', () => {
  test('every roster is consistent both ways and valid', () => {
    const doc = [...generatePopulation({ domain: 'localhost', accounts: 50, contacts: 6 })].join('');
    const parsed = parsePie(doc, 'pop.xml');
    const accounts = parsed.hosts[0]?.accounts ?? [];
    assert.equal(accounts.length, 50);
    assert.ok(accounts.every((a) => a.items.length === 6 && a.password === `${a.username}-pass`));
    const { problems } = validateAccounts(accounts, { domain: 'localhost', maxRosterItems: 100 });
    assert.deepEqual(problems, []);
  });

  test('refuses an odd contact count or too few accounts', () => {
    assert.throws(() => [...generatePopulation({ domain: 'localhost', accounts: 10, contacts: 3 })], /even/);
    assert.throws(() => [...generatePopulation({ domain: 'localhost', accounts: 4, contacts: 4 })], /more than contacts/);
  });
});
