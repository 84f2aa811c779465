/**
 * Lookups over the generated run tables (unicode-tables.ts) and the few
 * properties that neither RegExp nor the tables give directly.
 */
import {
  BIDI_CLASS_RUNS,
  BIDI_CLASS_VALUES,
  JOINING_TYPE_RUNS,
  JOINING_TYPE_VALUES,
  TABLES_UNICODE_VERSION,
} from './unicode-tables.js';

export type BidiClass = (typeof BIDI_CLASS_VALUES)[number];
export type JoiningType = (typeof JOINING_TYPE_VALUES)[number];

export { TABLES_UNICODE_VERSION };

/** Binary search for the run holding cp; runs are (start, valueIndex) pairs. */
function runValue(runs: readonly number[], cp: number): number {
  let lo = 0;
  let hi = runs.length / 2 - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((runs[mid * 2] as number) <= cp) lo = mid;
    else hi = mid - 1;
  }
  return runs[lo * 2 + 1] as number;
}

export function bidiClass(cp: number): BidiClass {
  return BIDI_CLASS_VALUES[runValue(BIDI_CLASS_RUNS, cp)] as BidiClass;
}

export function joiningType(cp: number): JoiningType {
  return JOINING_TYPE_VALUES[runValue(JOINING_TYPE_RUNS, cp)] as JoiningType;
}

/**
 * Canonical_Combining_Class = 9 (Virama), read from ICU's normalisation data
 * rather than a second table: canonical reordering (NFD) swaps two adjacent
 * marks when the first has the higher non-zero class. U+3099 has class 8 and
 * U+05B0 class 10, so a mark that U+3099 moves in front of, and that itself
 * moves in front of U+05B0, has class 9.
 */
export function isVirama(cp: number): boolean {
  if (cp === 0x3099 || cp === 0x05b0) return false;
  const c = String.fromCodePoint(cp);
  if (c.normalize('NFD') !== c) return false;
  const above8 = `a${c}\u3099`.normalize('NFD') === `a\u3099${c}`;
  const below10 = `a\u05b0${c}`.normalize('NFD') === `a${c}\u05b0`;
  return above8 && below10;
}
