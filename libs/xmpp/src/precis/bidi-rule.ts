/**
 * The Bidi Rule of RFC 5893 §2, which RFC 8265 applies to usernames that
 * contain right-to-left code points. Returns why the string fails, or
 * undefined when it passes (or has nothing right-to-left in it).
 */
import { bidiClass, type BidiClass } from './unicode-lookup.js';

const RTL_ALLOWED: ReadonlySet<BidiClass> = new Set(['R', 'AL', 'AN', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);
const LTR_ALLOWED: ReadonlySet<BidiClass> = new Set(['L', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);

/** RFC 5893 §1.4: a string is right-to-left when it holds an R, AL or AN character. */
export function hasRightToLeft(cps: readonly number[]): boolean {
  return cps.some((cp) => {
    const c = bidiClass(cp);
    return c === 'R' || c === 'AL' || c === 'AN';
  });
}

/** The rule for a string on its own: checked only when it holds right-to-left characters. */
export function bidiRuleViolation(cps: readonly number[]): string | undefined {
  return hasRightToLeft(cps) ? bidiRuleViolationOfLabel(cps) : undefined;
}

/** The six conditions, unconditionally (every label of a domain name that has a right-to-left label). */
export function bidiRuleViolationOfLabel(cps: readonly number[]): string | undefined {
  if (cps.length === 0) return undefined;
  const classes = cps.map(bidiClass);
  const first = classes[0] as BidiClass;
  // Condition 1: the first character is strongly directional.
  if (first !== 'L' && first !== 'R' && first !== 'AL') {
    return `the first character has bidi class ${first}; it must be L, R or AL (RFC 5893 rule 1)`;
  }
  const rtl = first !== 'L';
  const allowed = rtl ? RTL_ALLOWED : LTR_ALLOWED;
  // Conditions 2 and 5: which classes may appear at all.
  const stray = classes.findIndex((c) => !allowed.has(c));
  if (stray >= 0) {
    const cp = (cps[stray] as number).toString(16).toUpperCase().padStart(4, '0');
    return `U+${cp} (bidi class ${classes[stray]}) may not appear in a ${rtl ? 'right-to-left' : 'left-to-right'} string (RFC 5893 rule ${rtl ? 2 : 5})`;
  }
  // Conditions 3 and 6: how it ends, ignoring trailing NSM.
  let end = classes.length - 1;
  while (end > 0 && classes[end] === 'NSM') end--;
  const last = classes[end] as BidiClass;
  const endsWell = rtl ? ['R', 'AL', 'EN', 'AN'].includes(last) : last === 'L' || last === 'EN';
  if (!endsWell) {
    return `a ${rtl ? 'right-to-left' : 'left-to-right'} string may not end with bidi class ${last} (RFC 5893 rule ${rtl ? 3 : 6})`;
  }
  // Condition 4: European and Arabic-Indic digits never mix in RTL.
  if (rtl && classes.includes('EN') && classes.includes('AN')) {
    return 'a right-to-left string may not mix European (EN) and Arabic (AN) digits (RFC 5893 rule 4)';
  }
  return undefined;
}
