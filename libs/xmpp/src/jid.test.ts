import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Jid, JidError, jid, parseJid, tryParseJid } from './jid.js';

describe('parseJid accepts and normalises valid JIDs', () => {
  const valid: [input: string, local: string, domain: string, resource: string][] = [
    ['example.com', '', 'example.com', ''],
    ['juliet@example.com', 'juliet', 'example.com', ''],
    ['juliet@example.com/balcony', 'juliet', 'example.com', 'balcony'],
    ['Juliet@Example.COM/Balcony', 'juliet', 'example.com', 'Balcony'],
    ['example.com/resource', '', 'example.com', 'resource'],
    ['juliet@example.com./x', 'juliet', 'example.com', 'x'],
    ['juliet@example.com/foo/bar@baz', 'juliet', 'example.com', 'foo/bar@baz'],
    ['juliet@example.com/ spaced out ', 'juliet', 'example.com', ' spaced out '],
    ['джульетта@example.com', 'джульетта', 'example.com', ''],
    ['ÉLODIE@Exämple.com', 'élodie', 'exämple.com', ''],
    // NFC: e + combining acute composes to é in every part.
    ['e\u0301@e\u0301.fr/e\u0301', '\u00e9', '\u00e9.fr', '\u00e9'],
    ['fußball@example.com', 'fußball', 'example.com', ''],
    ['[::1]', '', '[::1]', ''],
    ['192.0.2.1/r', '', '192.0.2.1', 'r'],
    ['localhost', '', 'localhost', ''],
    ['a@b', 'a', 'b', ''],
    // RFC 7622 §3.5 examples.
    ['juliet@example.com/foo bar', 'juliet', 'example.com', 'foo bar'],
    ['juliet@example.com/foo@bar', 'juliet', 'example.com', 'foo@bar'],
    ['foo\\20bar@example.com', 'foo\\20bar', 'example.com', ''],
    ['π@example.com', 'π', 'example.com', ''],
    ['Σ@example.com/foo', 'σ', 'example.com', 'foo'],
    ['ς@example.com/foo', 'ς', 'example.com', 'foo'],
    ['king@example.com/♚', 'king', 'example.com', '♚'],
    ['a.example.com/b@example.net', '', 'a.example.com', 'b@example.net'],
    // Width mapping (UsernameCaseMapped) and UTS #46 (domainpart).
    ['ＪＵＬＩＥＴ@ｅｘａｍｐｌｅ.com', 'juliet', 'example.com', ''],
    ['x@xn--bcher-kva.de', 'x', 'bücher.de', ''],
    ['x@bücher。de', 'x', 'bücher.de', ''],
    ['x@üa.0x', 'x', 'üa.0x', ''],
    ['x@bücher.de/Ｒ\u00a0ｘ', 'x', 'bücher.de', 'Ｒ ｘ'],
  ];
  for (const [input, local, domain, resource] of valid) {
    test(`"${input}" parses to local "${local}", domain "${domain}", resource "${resource}"`, () => {
      const parsed = parseJid(input);
      assert.deepEqual([parsed.local, parsed.domain, parsed.resource], [local, domain, resource]);
    });
  }
});

describe('parseJid rejects invalid JIDs with a specific reason', () => {
  const invalid: [input: string, reason: RegExp][] = [
    ['', /domainpart is empty/],
    ['@example.com', /empty localpart/],
    ['juliet@', /domainpart is empty/],
    ['juliet@example.com/', /empty resourcepart/],
    ['/resource', /domainpart is empty/],
    ['.', /domainpart is empty/],
    ['juliet@exa mple.com', /domainpart contains whitespace/],
    ['a@b@c', /domainpart contains U\+0040 '@'/],
    ['ju liet@example.com', /localpart contains whitespace/],
    ['ju\u3000liet@example.com', /localpart contains whitespace/],
    // RFC 7622 §3.5 invalid examples, and PRECIS refusals.
    ['"juliet"@example.com', /forbidden character "/],
    ['foo bar@example.com', /localpart contains whitespace/],
    ['henry\u2163@example.com', /localpart contains a compatibility character/],
    ['\u265a@example.com', /localpart contains a symbol: U\+265A/],
    ['\ufb01@example.com', /localpart contains a compatibility character .*U\+FB01/],
    ['x@example.com/a\u200bb', /resourcepart contains a default-ignorable/],
    ['abc\u05e9@example.com', /localpart fails the Bidi Rule/],
    ['x@\u05e9\u05dc\u05d5\u05dd.1abc', /domainpart fails the Bidi Rule/],
    ['x@-example.com', /domainpart has a label that starts or ends with a hyphen/],
    ['x@xn--zz.com', /domainpart has a label that is not a valid IDNA2008 label/],
    ['x@[not-ipv6]', /domainpart starts with "\[" but is not a bracketed IPv6 address/],
    [`x@${'a'.repeat(64)}.com`, /domainpart has a label longer than 63 octets/],
    ['ju"liet@example.com', /forbidden character "/],
    ['ju&liet@example.com', /forbidden character &/],
    ["ju'liet@example.com", /forbidden character '/],
    ['ju:liet@example.com', /forbidden character :/],
    ['ju<liet@example.com', /forbidden character </],
    ['ju>liet@example.com', /forbidden character >/],
    ['ju\u0000liet@example.com', /localpart contains a control character/],
    ['example\u0007.com', /domainpart contains a control character/],
    ['juliet@example.com/bal\u0001cony', /resourcepart contains a control character/],
    ['example..com', /empty label/],
    [`${'a'.repeat(1024)}@example.com`, /localpart longer than 1023 bytes/],
    [`${'é'.repeat(512)}@example.com`, /localpart longer than 1023 bytes/],
    [`x@${Array.from({ length: 17 }, () => 'd'.repeat(63)).join('.')}`, /domainpart longer than 1023 bytes/],
    [`x@example.com/${'r'.repeat(1024)}`, /resourcepart longer than 1023 bytes/],
    ['\ud800@example.com', /localpart holds an unpaired surrogate: not valid Unicode/],
  ];
  for (const [input, reason] of invalid) {
    test(`${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)} is rejected: ${reason.source}`, () => {
      assert.throws(
        () => parseJid(input),
        (error: unknown) => error instanceof JidError && reason.test(error.message) && error.input === input,
      );
      assert.equal(tryParseJid(input), undefined);
    });
  }

  test('parts of exactly 1023 bytes are accepted', () => {
    const part = 'a'.repeat(1023);
    const domain = `${Array.from({ length: 15 }, () => 'd'.repeat(63)).join('.')}.${'e'.repeat(63)}`;
    assert.equal(domain.length, 1023);
    assert.equal(parseJid(`${part}@${domain}/${part}`).local.length, 1023);
  });
});

describe('Jid', () => {
  test('bare() drops the resource and keeps the rest', () => {
    const full = parseJid('Romeo@Montague.lit/Orchard');
    assert.equal(full.bare().toString(), 'romeo@montague.lit');
    assert.equal(full.toBareString(), 'romeo@montague.lit');
    assert.equal(full.isBare(), false);
    assert.equal(full.bare().isBare(), true);
    const bare = full.bare();
    assert.equal(bare.bare(), bare, 'a bare JID is its own bare JID');
  });

  test('equals compares normalised parts', () => {
    assert.ok(parseJid('ROMEO@montague.LIT/x').equals(parseJid('romeo@Montague.lit./x')));
    assert.ok(!parseJid('romeo@montague.lit/X').equals(parseJid('romeo@montague.lit/x')));
  });

  test('jid() validates and normalises like parseJid, with "" meaning absent', () => {
    assert.equal(jid('Romeo', 'Montague.LIT', 'Orchard').toString(), 'romeo@montague.lit/Orchard');
    assert.equal(jid('', 'montague.lit').toString(), 'montague.lit');
    assert.equal(jid('', 'montague.lit', '').isBare(), true);
    assert.throws(() => jid('ro@meo', 'montague.lit'), JidError);
    assert.throws(() => jid('romeo', ''), JidError);
    assert.ok(new Jid('A', 'B').equals(jid('a', 'b')));
  });
});

describe('JID round-trip', () => {
  // No symbols such as emoji: UsernameCaseMapped refuses them in a localpart.
  const localChar = fc.constantFrom(...'abcXYZ019._-+!#$%~éÄßжΣ日本'.split(/(?:)/u));
  const domainLabel = fc
    .string({ unit: fc.constantFrom(...'abcxyz019-éü'.split('')), minLength: 1, maxLength: 8 })
    .filter((label) => !label.startsWith('-') && !label.endsWith('-') && !/^[0-9]+$/.test(label) && label.slice(2, 4) !== '--');
  const resourceChar = fc.constantFrom(...'abcXYZ /@:&<>"\'é😀ΣΩ'.split(/(?:)/u));
  const jidArb = fc.record({
    local: fc.option(fc.string({ unit: localChar, minLength: 1, maxLength: 10 }), { nil: '' }),
    domain: fc.array(domainLabel, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.')),
    resource: fc.option(fc.string({ unit: resourceChar, minLength: 1, maxLength: 10 }), { nil: '' }),
  });

  test('parsing toString() of any valid JID gives an equal JID and the same string', () => {
    fc.assert(
      fc.property(jidArb, ({ local, domain, resource }) => {
        const original = jid(local, domain, resource);
        const reparsed = parseJid(original.toString());
        assert.ok(reparsed.equals(original));
        assert.equal(reparsed.toString(), original.toString());
        assert.equal(reparsed.resource, resource.normalize('NFC'));
      }),
      { numRuns: 500 },
    );
  });

  test('every part of a JID that parses from arbitrary Unicode is NFC, and parsing it again changes nothing', () => {
    const part = fc.string({ unit: fc.oneof(fc.constantFrom(...'aZ.é\u0301\uff21\ufb01Σ\u05e9 '.split('')), fc.string({ unit: 'grapheme', maxLength: 1 })), maxLength: 8 });
    fc.assert(
      fc.property(part, part, part, (local, domain, resource) => {
        const parsed = tryParseJid(`${local}@${domain}/${resource}`);
        if (parsed === undefined) return;
        for (const p of [parsed.local, parsed.domain, parsed.resource]) assert.equal(p, p.normalize('NFC'));
        assert.equal(parseJid(parsed.toString()).toString(), parsed.toString());
      }),
      { numRuns: 1000 },
    );
  });

  test('normalisation is idempotent for arbitrary strings that parse', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (input) => {
        const parsed = tryParseJid(input);
        if (parsed === undefined) return;
        assert.equal(parseJid(parsed.toString()).toString(), parsed.toString());
      }),
      { numRuns: 500 },
    );
  });
});

describe('prepared domains are remembered', () => {
  test('a domain gives the same JID the first time and every time after, and a bad one keeps failing naming each input', () => {
    const first = parseJid('a@Example.ORG');
    for (let i = 0; i < 3; i++) assert.equal(parseJid(`b${i}@Example.ORG`).domain, first.domain);
    assert.equal(first.domain, 'example.org');
    for (const input of ['a@exa mple.org', 'b@exa mple.org']) {
      assert.throws(() => parseJid(input), (e: unknown) => e instanceof JidError && e.input === input);
    }
  });

  test('more distinct domains than are remembered still prepare correctly', () => {
    for (let i = 0; i < 600; i++) assert.equal(jid('u', `D${i}.Example`).domain, `d${i}.example`);
    assert.equal(jid('u', 'D1.Example').domain, 'd1.example');
  });
});
