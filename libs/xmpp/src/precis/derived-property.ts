/**
 * The PRECIS derived property of a code point (RFC 8264 §8, categories §9)
 * for the IdentifierClass and the FreeformClass. The Unicode properties come
 * from Node's ICU through RegExp property escapes and String#normalize
 * (Unicode version: process.versions.unicode), except Bidi_Class and
 * Joining_Type (generated tables) and the two small fixed lists below.
 */

export type StringClass = 'IdentifierClass' | 'FreeformClass';
export type DerivedProperty = 'PVALID' | 'CONTEXTJ' | 'CONTEXTO' | 'DISALLOWED' | 'UNASSIGNED';

/** Why a code point got its value: the §9 category that decided it. */
export type Category =
  | 'Exceptions'
  | 'Unassigned'
  | 'ASCII7'
  | 'JoinControl'
  | 'OldHangulJamo'
  | 'PrecisIgnorableProperties'
  | 'Controls'
  | 'HasCompat'
  | 'LetterDigits'
  | 'OtherLetterDigits'
  | 'Spaces'
  | 'Symbols'
  | 'Punctuation'
  | 'Other';

export interface Derivation {
  readonly value: DerivedProperty;
  readonly category: Category;
}

/** RFC 5892 §2.6 (Exceptions, category F), as RFC 8264 §9.6 takes it over. */
const EXCEPTIONS = new Map<number, DerivedProperty>([
  // PVALID: would otherwise be changed by case folding or normalisation.
  [0x00df, 'PVALID'], [0x03c2, 'PVALID'], [0x06fd, 'PVALID'], [0x06fe, 'PVALID'],
  [0x0f0b, 'PVALID'], [0x3007, 'PVALID'],
  // CONTEXTO: valid only in the context RFC 5892 Appendix A gives.
  [0x00b7, 'CONTEXTO'], [0x0375, 'CONTEXTO'], [0x05f3, 'CONTEXTO'], [0x05f4, 'CONTEXTO'],
  [0x30fb, 'CONTEXTO'],
  ...range(0x0660, 0x0669).map((cp): [number, DerivedProperty] => [cp, 'CONTEXTO']),
  ...range(0x06f0, 0x06f9).map((cp): [number, DerivedProperty] => [cp, 'CONTEXTO']),
  // DISALLOWED: tatweel, NKo lajanyalan, Hangzhou-style tone and repeat marks.
  [0x0640, 'DISALLOWED'], [0x07fa, 'DISALLOWED'], [0x302e, 'DISALLOWED'], [0x302f, 'DISALLOWED'],
  ...range(0x3031, 0x3035).map((cp): [number, DerivedProperty] => [cp, 'DISALLOWED']),
  [0x303b, 'DISALLOWED'],
]);

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * RFC 8264 §9.9 OldHangulJamo: Hangul_Syllable_Type L, V or T (conjoining
 * jamo, which NFC composes when they form a modern syllable). Fixed ranges
 * from the Unicode Hangul Jamo and Jamo Extended-A/B blocks.
 */
const OLD_HANGUL_JAMO: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], [0xa960, 0xa97c], // L
  [0x1160, 0x11a7], [0xd7b0, 0xd7c6], // V
  [0x11a8, 0x11ff], [0xd7cb, 0xd7fb], // T
];

const UNASSIGNED = /^\p{gc=Cn}$/u;
const NONCHARACTER = /^\p{Noncharacter_Code_Point}$/u;
const JOIN_CONTROL = /^\p{Join_Control}$/u;
const IGNORABLE = /^[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]$/u;
const CONTROL = /^\p{gc=Cc}$/u;
const LETTER_DIGITS = /^[\p{gc=Ll}\p{gc=Lu}\p{gc=Lo}\p{gc=Nd}\p{gc=Lm}\p{gc=Mn}\p{gc=Mc}]$/u;
const OTHER_LETTER_DIGITS = /^[\p{gc=Lt}\p{gc=Nl}\p{gc=No}\p{gc=Me}]$/u;
const SPACES = /^\p{gc=Zs}$/u;
const SYMBOLS = /^[\p{gc=Sm}\p{gc=Sc}\p{gc=Sk}\p{gc=So}]$/u;
const PUNCTUATION = /^\p{gc=P}$/u;

/** RFC 8264 §8: the first category that holds decides the value. */
export function derive(cp: number, stringClass: StringClass): Derivation {
  const exception = EXCEPTIONS.get(cp);
  if (exception !== undefined) return { value: exception, category: 'Exceptions' };
  // BackwardCompatible (§9.7) is empty for every Unicode version so far.
  const c = String.fromCodePoint(cp);
  if (UNASSIGNED.test(c) && !NONCHARACTER.test(c)) return { value: 'UNASSIGNED', category: 'Unassigned' };
  if (cp >= 0x21 && cp <= 0x7e) return { value: 'PVALID', category: 'ASCII7' };
  if (JOIN_CONTROL.test(c)) return { value: 'CONTEXTJ', category: 'JoinControl' };
  if (OLD_HANGUL_JAMO.some(([first, last]) => cp >= first && cp <= last)) {
    return { value: 'DISALLOWED', category: 'OldHangulJamo' };
  }
  if (IGNORABLE.test(c)) return { value: 'DISALLOWED', category: 'PrecisIgnorableProperties' };
  if (CONTROL.test(c)) return { value: 'DISALLOWED', category: 'Controls' };
  // Identifier-disallowed but freeform-valid: ID_DIS or FREE_PVAL.
  const idDis = stringClass === 'IdentifierClass' ? 'DISALLOWED' : 'PVALID';
  if (c.normalize('NFKC') !== c) return { value: idDis, category: 'HasCompat' };
  if (LETTER_DIGITS.test(c)) return { value: 'PVALID', category: 'LetterDigits' };
  if (OTHER_LETTER_DIGITS.test(c)) return { value: idDis, category: 'OtherLetterDigits' };
  if (SPACES.test(c)) return { value: idDis, category: 'Spaces' };
  if (SYMBOLS.test(c)) return { value: idDis, category: 'Symbols' };
  if (PUNCTUATION.test(c)) return { value: idDis, category: 'Punctuation' };
  return { value: 'DISALLOWED', category: 'Other' };
}
