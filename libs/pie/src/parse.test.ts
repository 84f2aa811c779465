import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveScramCredential } from '@vigil/xmpp';
import { parsePie, type IncludeReader } from './parse.js';
import type { PieAccount } from './model.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/ejabberd-piefxis/', import.meta.url));

/** Reads includes from the fixture directory only, as the command line does. */
const readSibling: IncludeReader = (href, from) => {
  if (href.includes('/') || href.startsWith('.')) throw new Error('only files beside the main file');
  const file = join(dirname(from), href);
  return { file, text: readFileSync(file, 'utf8') };
};

function fixture(kind: string): ReturnType<typeof parsePie> {
  const dir = join(FIXTURES, kind);
  const main = readdirSync(dir).find((f) => /^\d{8}-\d{6}\.xml$/.test(f));
  assert.ok(main, `main file in ${dir}`);
  const file = join(dir, main);
  return parsePie(readFileSync(file, 'utf8'), file, readSibling);
}

const user = (accounts: readonly PieAccount[], name: string): PieAccount => {
  const a = accounts.find((x) => x.username === name);
  assert.ok(a, `user ${name}`);
  return a;
};

describe('XEP-0227 parser on files exported by ejabberd 23.01', () => {
  test('SCRAM-SHA-1 export: users, rosters, pending requests and the block list, following the XInclude', async () => {
    const { hosts, problems } = fixture('scram-sha-1');
    assert.deepEqual(problems.filter((p) => p.severity === 'error'), []);
    assert.equal(hosts.length, 1);
    const host = hosts[0];
    assert.equal(host?.domain, 'localhost');
    const accounts = host?.accounts ?? [];
    assert.deepEqual(accounts.map((a) => a.username).sort(), ['alice', 'bob', 'carol', 'dave', 'eve', 'zoë']);
    const alice = user(accounts, 'alice');
    assert.deepEqual(
      alice.items.map((i) => [i.jid, i.name, i.subscription, i.pendingOut, [...i.groups]]),
      [
        ['bob@localhost', 'Bob', 'both', false, ['Friends', 'Work']],
        ['carol@localhost', 'Carol', 'to', false, ['Work']],
        ['dave@localhost', '', 'none', true, []],
      ],
    );
    assert.deepEqual(user(accounts, 'dave').pendingIn.map((p) => p.from), ['alice@localhost']);
    assert.deepEqual(user(accounts, 'eve').blocked, ['mallory@evil.example', 'dave@localhost']);
    // The doubly encoded keys decode to what alice's password derives.
    const [cred] = alice.scram;
    assert.ok(cred);
    assert.equal(cred.hash, 'sha1');
    const derived = await deriveScramCredential('alice-pass', 'sha1', cred.iterations, cred.salt);
    assert.deepEqual(derived.storedKey, cred.storedKey);
    assert.deepEqual(derived.serverKey, cred.serverKey);
    assert.ok(problems.some((p) => /base64 of base64/.test(p.message)), 'the double encoding is reported');
    // Every location names the included file, where the users are.
    assert.equal(basename(alice.at?.file ?? ''), readdirSync(join(FIXTURES, 'scram-sha-1')).find((f) => f.endsWith('_localhost.xml')));
  });

  test('SCRAM-SHA-256 export: 32-byte keys that verify the password', async () => {
    const accounts = fixture('scram-sha-256').hosts[0]?.accounts ?? [];
    const [cred] = user(accounts, 'zoë').scram;
    assert.ok(cred);
    assert.equal(cred.hash, 'sha256');
    const derived = await deriveScramCredential(`p&ss<'">`, 'sha256', cred.iterations, cred.salt);
    assert.deepEqual(derived.storedKey, cred.storedKey);
  });

  test('plain export: passwords as written, XML escapes undone', () => {
    const accounts = fixture('plain').hosts[0]?.accounts ?? [];
    assert.equal(user(accounts, 'alice').password, 'alice-pass');
    assert.equal(user(accounts, 'zoë').password, `p&ss<'">`);
    assert.deepEqual(user(accounts, 'alice').scram, []);
  });
});

describe('XEP-0227 parser on bad input', () => {
  const doc = (users: string): string => `<?xml version='1.0'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='localhost'>\n${users}\n</host>\n</server-data>\n`;

  test('a DTD is refused before any entity can be expanded', () => {
    const text = `<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n<server-data xmlns='urn:xmpp:pie:0'/>`;
    const { problems, hosts } = parsePie(text, 'dtd.xml');
    assert.equal(hosts.length, 0);
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /DTD is not allowed/);
    assert.equal(problems[0]?.at?.line, 2);
  });

  test('processing instructions and undeclared entities are refused', () => {
    assert.match(parsePie(`<server-data xmlns='urn:xmpp:pie:0'><?php x?></server-data>`, 'pi.xml').problems[0]?.message ?? '', /processing instruction/);
    assert.match(parsePie(doc(`<user name='a&foo;'/>`), 'ent.xml').problems[0]?.message ?? '', /not well-formed/);
  });

  test('every bad entry is reported with its line, and parsing goes on after each', () => {
    const text = doc(
      [
        `<user name='ok' password='ok-pass'/>`,
        `<user password='nameless'/>`,
        `<user name='x'><query xmlns='jabber:iq:roster'>`,
        `  <item jid='a@localhost' subscription='sideways'/>`,
        `  <item subscription='both'/>`,
        `</query></user>`,
        `<user name='y'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>many</iter-count></scram-credentials></user>`,
      ].join('\n'),
    );
    const { problems, hosts } = parsePie(text, 'bad.xml');
    const errors = problems.filter((p) => p.severity === 'error').map((p) => [p.at?.line, p.account, p.field]);
    assert.deepEqual(errors, [
      [5, 1, 'username'],
      [7, 2, 'items[0].subscription'],
      [8, 2, 'items[1].jid'],
      [10, 3, 'scram[0].iter-count'],
    ]);
    assert.equal(hosts[0]?.accounts.length, 4);
  });

  test('a file cut short is one error at the place it ends', () => {
    const { problems } = parsePie(`<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='localhost'>\n<user name='a'>`, 'cut.xml');
    assert.equal(problems.filter((p) => p.severity === 'error').length, 1);
    assert.match(problems[0]?.message ?? '', /not well-formed/);
  });

  test('the wrong root element is refused', () => {
    assert.match(parsePie(`<roster xmlns='jabber:iq:roster'/>`, 'r.xml').problems[0]?.message ?? '', /root element must be <server-data/);
  });

  test('data Vigil does not keep is skipped with one warning per kind and user', () => {
    const { problems, hosts } = parsePie(
      doc(`<user name='a'><vCard xmlns='vcard-temp'/><offline-messages><message xmlns='jabber:client'/><message xmlns='jabber:client'/></offline-messages></user>`),
      'w.xml',
    );
    assert.equal(problems.filter((p) => p.severity === 'error').length, 0);
    assert.deepEqual(problems.map((p) => p.field), ['vCard', 'message']);
    assert.equal(hosts[0]?.accounts[0]?.username, 'a');
  });

  test('an include outside what the reader allows is an error naming it', () => {
    const text = `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='/etc/passwd'/></server-data>`;
    const { problems } = parsePie(text, 'inc.xml', readSibling);
    assert.match(problems[0]?.message ?? '', /cannot include \/etc\/passwd/);
    assert.match(parsePie(text, 'inc.xml').problems[0]?.message ?? '', /no file may be included/);
  });
});
