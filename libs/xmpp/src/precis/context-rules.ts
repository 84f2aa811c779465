/**
 * RFC 5892 Appendix A: the rules under which a CONTEXTJ or CONTEXTO code
 * point is allowed (RFC 8264 §4.2.2 and §4.3.2 take them over for PRECIS).
 */
import { isVirama, joiningType } from './unicode-lookup.js';

const GREEK = /^\p{Script=Greek}$/u;
const HEBREW = /^\p{Script=Hebrew}$/u;
const HIRAGANA_KATAKANA_HAN = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u;

const at = (cps: readonly number[], i: number): string =>
  i >= 0 && i < cps.length ? String.fromCodePoint(cps[i] as number) : '';

/** Whether the code point at index i of cps satisfies its context rule. */
export function contextAllows(cps: readonly number[], i: number): boolean {
  const cp = cps[i] as number;
  const before = i > 0 ? (cps[i - 1] as number) : undefined;
  switch (cp) {
    case 0x200c: // A.1 ZERO WIDTH NON-JOINER
      if (before !== undefined && isVirama(before)) return true;
      return joinsBothSides(cps, i);
    case 0x200d: // A.2 ZERO WIDTH JOINER
      return before !== undefined && isVirama(before);
    case 0x00b7: // A.3 MIDDLE DOT: only between two 'l' (Catalan l·l)
      return before === 0x6c && cps[i + 1] === 0x6c;
    case 0x0375: // A.4 GREEK LOWER NUMERAL SIGN: before a Greek character
      return GREEK.test(at(cps, i + 1));
    case 0x05f3: // A.5 HEBREW PUNCTUATION GERESH
    case 0x05f4: // A.6 HEBREW PUNCTUATION GERSHAYIM: after a Hebrew character
      return HEBREW.test(at(cps, i - 1));
    case 0x30fb: // A.7 KATAKANA MIDDLE DOT: with some Japanese in the string
      return cps.some((other) => HIRAGANA_KATAKANA_HAN.test(String.fromCodePoint(other)));
    default:
      // A.8 / A.9: Arabic-Indic and Extended Arabic-Indic digits never mix.
      if (cp >= 0x0660 && cp <= 0x0669) return !cps.some((o) => o >= 0x06f0 && o <= 0x06f9);
      if (cp >= 0x06f0 && cp <= 0x06f9) return !cps.some((o) => o >= 0x0660 && o <= 0x0669);
      return false;
  }
}

/** A.1's regular expression: (L|D) T* ZWNJ T* (R|D) around index i. */
function joinsBothSides(cps: readonly number[], i: number): boolean {
  let b = i - 1;
  while (b >= 0 && joiningType(cps[b] as number) === 'T') b--;
  let a = i + 1;
  while (a < cps.length && joiningType(cps[a] as number) === 'T') a++;
  if (b < 0 || a >= cps.length) return false;
  const left = joiningType(cps[b] as number);
  const right = joiningType(cps[a] as number);
  return (left === 'L' || left === 'D') && (right === 'R' || right === 'D');
}
