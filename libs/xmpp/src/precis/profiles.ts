/**
 * PRECIS profiles of RFC 8265 as RFC 7622 uses them for JIDs:
 * UsernameCaseMapped (IdentifierClass) for localparts and OpaqueString
 * (FreeformClass) for resourceparts. `enforce*` applies the profile's rules
 * in the order of RFC 8264 §7 and checks the result against the string
 * class; it returns the enforced string or throws a PrecisError naming the
 * offending code point and the rule.
 */
import { bidiRuleViolation } from './bidi-rule.js';
import { contextAllows } from './context-rules.js';
import { derive, type StringClass } from './derived-property.js';

export class PrecisError extends Error {
  constructor(
    message: string,
    /** The first offending code point, when one is to blame. */
    readonly codePoint?: number,
  ) {
    super(message);
    this.name = 'PrecisError';
  }
}

/** U+XXXX plus the character itself when it is printable. */
export function describeCodePoint(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const c = String.fromCodePoint(cp);
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? `${hex} '${c}'` : hex;
}

interface Profile {
  readonly stringClass: StringClass;
  readonly widthMapping: boolean;
  readonly spaceMapping: boolean;
  readonly caseMapping: boolean;
  readonly bidiRule: boolean;
  /** Inputs on which every code point is PVALID and only the case mapping can change anything. */
  readonly plainAscii: RegExp;
}

const USERNAME_CASE_MAPPED: Profile = {
  stringClass: 'IdentifierClass',
  widthMapping: true,
  spaceMapping: false,
  caseMapping: true,
  bidiRule: true,
  // Printable ASCII (ASCII7): lower-casing keeps it ASCII7; width, NFC and Bidi do nothing.
  plainAscii: /^[\x21-\x7e]+$/,
};

const OPAQUE_STRING: Profile = {
  stringClass: 'FreeformClass',
  widthMapping: false,
  spaceMapping: true,
  caseMapping: false,
  bidiRule: false,
  // Printable ASCII and the space.
  plainAscii: /^[\x20-\x7e]+$/,
};

/** <wide> and <narrow> compatibility decompositions live in these code points only. */
const WIDTH_FORMS = /[\u3000\uff01-\uffee]/gu;
const NON_ASCII_SPACE = /(?!\u0020)\p{gc=Zs}/gu;

/** RFC 8265 §3.4: UsernameCaseMapped, as RFC 7622 §3.3 uses it for localparts. */
export function enforceUsernameCaseMapped(input: string): string {
  return enforce(USERNAME_CASE_MAPPED, input);
}

/** RFC 8265 §4.2: OpaqueString, as RFC 7622 §3.4 uses it for resourceparts. */
export function enforceOpaqueString(input: string): string {
  return enforce(OPAQUE_STRING, input);
}

/**
 * RFC 8264 §7: apply the rules until the output is stable; a string that
 * still changes after four rounds is refused (none is known, but this is
 * what guarantees that enforcement is idempotent).
 */
function enforce(profile: Profile, input: string): string {
  if (profile.plainAscii.test(input)) return profile.caseMapping ? input.toLowerCase() : input;
  let current = input;
  for (let round = 0; round < 4; round++) {
    const next = applyRules(profile, current);
    if (next === current) return next;
    current = next;
  }
  throw new PrecisError('does not become stable under the PRECIS rules (RFC 8264 §7)');
}

function applyRules(profile: Profile, input: string): string {
  if (/\p{gc=Cs}/u.test(input)) throw new PrecisError('holds an unpaired surrogate: not valid Unicode');
  let s = input;
  // RFC 8265 §3.3.1 rule 1: fullwidth and halfwidth forms to their decomposition.
  if (profile.widthMapping) s = s.replace(WIDTH_FORMS, (c) => c.normalize('NFKC'));
  // RFC 8265 §4.2.1 rule 2: non-ASCII spaces become U+0020.
  if (profile.spaceMapping) s = s.replace(NON_ASCII_SPACE, ' ');
  // RFC 8265 §3.3.1 rule 3: Unicode toLowerCase() (full mapping, final sigma included).
  if (profile.caseMapping) s = s.toLowerCase();
  s = s.normalize('NFC');
  if (s === '') throw new PrecisError('is empty once prepared (RFC 8265 §3.4, §4.3)');
  const cps = Array.from(s, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < cps.length; i++) checkCodePoint(profile.stringClass, cps, i);
  if (profile.bidiRule) {
    const violation = bidiRuleViolation(cps);
    if (violation !== undefined) throw new PrecisError(`fails the Bidi Rule: ${violation}`);
  }
  return s;
}

const CATEGORY_WORDS: Record<string, string> = {
  Unassigned: 'an unassigned code point',
  OldHangulJamo: 'an old Hangul jamo',
  PrecisIgnorableProperties: 'a default-ignorable or noncharacter code point',
  Controls: 'a control character',
  HasCompat: 'a compatibility character (its NFKC form differs)',
  OtherLetterDigits: 'a titlecase letter, letter number, other number or enclosing mark',
  Spaces: 'whitespace',
  Symbols: 'a symbol',
  Punctuation: 'punctuation',
  Exceptions: 'a character RFC 5892 §2.6 disallows',
  Other: 'a format, private-use or surrogate code point',
};

function checkCodePoint(stringClass: StringClass, cps: readonly number[], i: number): void {
  const cp = cps[i] as number;
  const { value, category } = derive(cp, stringClass);
  if (value === 'PVALID') return;
  if ((value === 'CONTEXTJ' || value === 'CONTEXTO') && contextAllows(cps, i)) return;
  if (value === 'CONTEXTJ' || value === 'CONTEXTO') {
    throw new PrecisError(
      `contains ${describeCodePoint(cp)}, which RFC 5892 Appendix A allows only in a context it is not in here`,
      cp,
    );
  }
  const what = CATEGORY_WORDS[category] ?? category;
  throw new PrecisError(`contains ${what}: ${describeCodePoint(cp)}, which the ${stringClass} does not allow`, cp);
}
