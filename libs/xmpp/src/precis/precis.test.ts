import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { bidiRuleViolation } from './bidi-rule.js';
import { derive } from './derived-property.js';
import { PrecisError, enforceOpaqueString, enforceUsernameCaseMapped } from './profiles.js';
import { TABLES_UNICODE_VERSION, bidiClass, isVirama, joiningType } from './unicode-lookup.js';

const cps = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0) as number);

describe('PRECIS derived property (RFC 8264 §8)', () => {
  const rows: [cp: number, identifier: string, freeform: string, category: string][] = [
    [0x0061, 'PVALID', 'PVALID', 'ASCII7'],
    [0x0020, 'DISALLOWED', 'PVALID', 'Spaces'],
    [0x00df, 'PVALID', 'PVALID', 'Exceptions'], // ß
    [0x00b7, 'CONTEXTO', 'CONTEXTO', 'Exceptions'],
    [0x0640, 'DISALLOWED', 'DISALLOWED', 'Exceptions'], // tatweel
    [0x200d, 'CONTEXTJ', 'CONTEXTJ', 'JoinControl'],
    [0x1100, 'DISALLOWED', 'DISALLOWED', 'OldHangulJamo'],
    [0x200b, 'DISALLOWED', 'DISALLOWED', 'PrecisIgnorableProperties'],
    [0xfdd0, 'DISALLOWED', 'DISALLOWED', 'PrecisIgnorableProperties'], // noncharacter
    [0x0007, 'DISALLOWED', 'DISALLOWED', 'Controls'],
    [0xfb01, 'DISALLOWED', 'PVALID', 'HasCompat'], // ﬁ
    [0x2163, 'DISALLOWED', 'PVALID', 'HasCompat'], // Ⅳ
    [0x00e9, 'PVALID', 'PVALID', 'LetterDigits'],
    [0x0301, 'PVALID', 'PVALID', 'LetterDigits'], // combining acute (Mn)
    [0x16ee, 'DISALLOWED', 'PVALID', 'OtherLetterDigits'], // runic arlaug (Nl)
    [0x221e, 'DISALLOWED', 'PVALID', 'Symbols'], // ∞
    [0x265a, 'DISALLOWED', 'PVALID', 'Symbols'], // ♚
    [0x00bf, 'DISALLOWED', 'PVALID', 'Punctuation'], // ¿
    [0xe000, 'DISALLOWED', 'DISALLOWED', 'Other'], // private use
    [0x0378, 'UNASSIGNED', 'UNASSIGNED', 'Unassigned'],
  ];
  for (const [cp, identifier, freeform, category] of rows) {
    test(`U+${cp.toString(16).toUpperCase().padStart(4, '0')} is ${identifier} in IdentifierClass and ${freeform} in FreeformClass (${category})`, () => {
      assert.deepEqual(derive(cp, 'IdentifierClass'), { value: identifier, category });
      assert.deepEqual(derive(cp, 'FreeformClass'), { value: freeform, category });
    });
  }
});

describe('UsernameCaseMapped (RFC 8265 §3.5 examples)', () => {
  const valid: [input: string, enforced: string][] = [
    ['juliet@example.com', 'juliet@example.com'],
    ['fussball', 'fussball'],
    ['fußball', 'fußball'],
    ['π', 'π'],
    ['Σ', 'σ'],
    ['σ', 'σ'],
    ['ς', 'ς'],
    // Width mapping happens before the class check: fullwidth letters become ASCII.
    ['ＪＵＬＩＥＴ', 'juliet'],
    ['ÉLODIE', 'élodie'],
  ];
  for (const [input, enforced] of valid) {
    test(`"${input}" is valid and enforces to "${enforced}"`, () => {
      assert.equal(enforceUsernameCaseMapped(input), enforced);
    });
  }
  const invalid: [input: string, reason: RegExp][] = [
    ['foo bar', /whitespace: U\+0020/],
    ['', /empty/],
    // Lower-cased first: Ⅳ becomes ⅳ, which is still a compatibility character.
    ['henry\u2163', /compatibility character.*U\+2173/],
    ['\u221e', /symbol: U\+221E/],
    ['\u265a', /symbol: U\+265A/],
    ['\ufb01', /compatibility character.*U\+FB01/],
    ['a\u200db', /U\+200D, which RFC 5892 Appendix A allows only in a context/],
    ['abc\u05e9\u05dc\u05d5\u05dd', /Bidi Rule/],
  ];
  for (const [input, reason] of invalid) {
    test(`${JSON.stringify(input)} is refused: ${reason.source}`, () => {
      assert.throws(() => enforceUsernameCaseMapped(input), (e: unknown) => e instanceof PrecisError && reason.test(e.message));
    });
  }
});

describe('OpaqueString (RFC 8265 §4)', () => {
  test('keeps case, symbols and spaces, and maps non-ASCII spaces to U+0020', () => {
    assert.equal(enforceOpaqueString('Balcony ♚ \ufb01'), 'Balcony ♚ \ufb01');
    assert.equal(enforceOpaqueString('a\u00a0b\u3000c'), 'a b c');
    assert.equal(enforceOpaqueString('e\u0301'), '\u00e9');
  });
  test('refuses controls, ignorables and the empty string', () => {
    assert.throws(() => enforceOpaqueString('a\u0001'), /control character: U\+0001/);
    assert.throws(() => enforceOpaqueString('a\u200b'), /default-ignorable/);
    assert.throws(() => enforceOpaqueString(''), /empty/);
  });
});

describe('context rules (RFC 5892 Appendix A)', () => {
  test('ZWJ after a virama is allowed, elsewhere refused', () => {
    assert.equal(enforceUsernameCaseMapped('\u0915\u094d\u200d\u0937'), '\u0915\u094d\u200d\u0937');
    assert.throws(() => enforceUsernameCaseMapped('\u0915\u200d\u0937'), /U\+200D/);
  });
  test('ZWNJ between Arabic letters that join is allowed', () => {
    // beh (D) ZWNJ beh (D)
    assert.equal(enforceUsernameCaseMapped('\u0628\u200c\u0628'), '\u0628\u200c\u0628');
    assert.throws(() => enforceUsernameCaseMapped('a\u200cb'), /U\+200C/);
  });
  test('middle dot only between two l, keraia before Greek, geresh after Hebrew', () => {
    assert.equal(enforceUsernameCaseMapped('l\u00b7l'), 'l\u00b7l');
    assert.throws(() => enforceUsernameCaseMapped('a\u00b7b'), /U\+00B7/);
    assert.equal(enforceUsernameCaseMapped('\u0375\u03b1'), '\u0375\u03b1');
    assert.equal(enforceUsernameCaseMapped('\u05d0\u05f3'), '\u05d0\u05f3');
    assert.throws(() => enforceUsernameCaseMapped('a\u05f3'), /U\+05F3/);
  });
  test('katakana middle dot needs Japanese, Arabic-Indic digit sets never mix', () => {
    assert.equal(enforceUsernameCaseMapped('\u30a2\u30fb\u30a4'), '\u30a2\u30fb\u30a4');
    assert.throws(() => enforceUsernameCaseMapped('a\u30fbb'), /U\+30FB/);
    assert.throws(() => enforceUsernameCaseMapped('\u0628\u0661\u06f1'), /U\+0661/);
  });
});

describe('Bidi Rule (RFC 5893)', () => {
  const cases: [input: string, ok: boolean][] = [
    ['abc', true], // nothing right-to-left: not checked
    ['\u05e9\u05dc\u05d5\u05dd', true], // Hebrew
    ['\u05e9\u05dc\u05d5\u05dd1', true], // ends with EN
    ['1\u05e9', false], // rule 1: starts with EN
    ['abc\u05e9', false], // rule 5: R in an LTR string
    ['\u05e9a', false], // rule 2: L in an RTL string
    ['\u05e9-', false], // rule 3: ends with ES
    ['\u0628\u0661\u0031', false], // rule 4: AN and EN mixed
    ['\u0628\u064e', true], // trailing NSM after AL
  ];
  for (const [input, ok] of cases) {
    test(`${JSON.stringify(input)} ${ok ? 'passes' : 'fails'}`, () => {
      assert.equal(bidiRuleViolation(cps(input)) === undefined, ok);
    });
  }
});

describe('Unicode tables', () => {
  test("the generated tables describe the Unicode version of Node's ICU", () => {
    assert.equal(TABLES_UNICODE_VERSION, process.versions.unicode);
  });
  test('the committed tables are what the generator produces', () => {
    const script = fileURLToPath(new URL('../../scripts/gen-unicode-tables.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
  test('lookups agree with properties RegExp knows', () => {
    assert.equal(bidiClass(0x41), 'L');
    assert.equal(bidiClass(0x5d0), 'R');
    assert.equal(bidiClass(0x627), 'AL');
    assert.equal(bidiClass(0x661), 'AN');
    assert.equal(bidiClass(0x31), 'EN');
    assert.equal(bidiClass(0x301), 'NSM');
    assert.equal(joiningType(0x628), 'D');
    assert.equal(joiningType(0x627), 'R');
    assert.equal(joiningType(0x41), 'U');
    // Every Hebrew-script letter is R; every Arabic-script letter is AL.
    for (let cp = 0x590; cp <= 0x6ff; cp++) {
      const c = String.fromCodePoint(cp);
      if (/^\p{Script=Hebrew}$/u.test(c) && /^\p{L}$/u.test(c)) assert.equal(bidiClass(cp), 'R', c);
      if (/^\p{Script=Arabic}$/u.test(c) && /^\p{L}$/u.test(c)) assert.equal(bidiClass(cp), 'AL', c);
    }
  });
  test('Virama detection through canonical reordering finds the viramas', () => {
    for (const cp of [0x094d, 0x09cd, 0x0bcd, 0x0d4d, 0x0e3a, 0x1039, 0xa806]) assert.ok(isVirama(cp), cp.toString(16));
    for (const cp of [0x0301, 0x3099, 0x05b0, 0x0041, 0x0915]) assert.ok(!isVirama(cp), cp.toString(16));
  });
});

describe('enforcement properties', () => {
  // Strings drawn from every plane and category, weighted towards the interesting ones.
  const unit = fc.oneof(
    fc.constantFrom(...'aZ9 Σσςßİ\u0130\u00a0\u3000\uff21\ufb01\u2163\u0301\u05e9\u0628\u0661\u200c\u200d\u00b7l\u1100'.split('')),
    fc.integer({ min: 0, max: 0x10ffff }).filter((cp) => cp < 0xd800 || cp > 0xdfff).map((cp) => String.fromCodePoint(cp)),
  );
  const arb = fc.array(unit, { maxLength: 12 }).map((a) => a.join(''));
  for (const [name, enforce] of [
    ['UsernameCaseMapped', enforceUsernameCaseMapped],
    ['OpaqueString', enforceOpaqueString],
  ] as const) {
    test(`${name}: enforcement is idempotent and every accepted string is NFC`, () => {
      fc.assert(
        fc.property(arb, (input) => {
          let once: string;
          try {
            once = enforce(input);
          } catch (error: unknown) {
            if (error instanceof PrecisError) return;
            throw error;
          }
          assert.equal(once, once.normalize('NFC'));
          assert.equal(enforce(once), once);
        }),
        { numRuns: 2000 },
      );
    });
  }
});
