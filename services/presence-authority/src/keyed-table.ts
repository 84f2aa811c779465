import { randomBytes } from 'node:crypto';

/**
 * A set of values, each found by a string key it carries (keyOf), in one
 * array with open addressing (linear probing, deletion by backward shift).
 *
 * It replaces a Map from key to value where the key is already a field of
 * the value: a Map entry costs 28 bytes per slot of its capacity (key,
 * value, chain link and half a bucket), 42 on average per entry between two
 * growths; a slot here is one reference, and the table is kept between a
 * quarter and MAX_LOAD full (14–32 bytes per entry). Lookups hash the key
 * (FNV-1a over its UTF-16 code units), so they cost a little more than a
 * Map's, whose string keys cache their hash: use it where a lookup is per
 * event, not per stanza (docs/decisions.md "The authority's memory per
 * session").
 *
 * Iteration order is the table's, not insertion order.
 */
export class KeyedTable<V extends object> {
  #slots: (V | undefined)[];
  #mask: number;
  #size = 0;

  constructor(private readonly keyOf: (value: V) => string, capacity = MIN_CAPACITY) {
    const c = capacityFor(capacity);
    this.#slots = new Array<V | undefined>(c).fill(undefined);
    this.#mask = c - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = hashOf(key) & mask; ; i = (i + 1) & mask) {
      const v = slots[i];
      if (v === undefined) return undefined;
      if (this.keyOf(v) === key) return v;
    }
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Adds `value` unless a value with its key is here already; true when added. */
  add(value: V): boolean {
    const key = this.keyOf(value);
    const slots = this.#slots;
    const mask = this.#mask;
    let i = hashOf(key) & mask;
    for (let v = slots[i]; v !== undefined; i = (i + 1) & mask, v = slots[i]) if (this.keyOf(v) === key) return false;
    slots[i] = value;
    this.#size++;
    if (this.#size > slots.length * MAX_LOAD) this.#resize(slots.length * 2);
    return true;
  }

  /** Removes the value with this key; the value removed, or undefined when there was none. */
  delete(key: string): V | undefined {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = hashOf(key) & mask;
    let found: V | undefined;
    for (let v = slots[i]; v !== undefined; i = (i + 1) & mask, v = slots[i]) {
      if (this.keyOf(v) === key) {
        found = v;
        break;
      }
    }
    if (found === undefined) return undefined;
    // Backward shift: move later members of the probe run into the hole when their home allows it.
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = slots[j];
      if (v === undefined) break;
      const home = hashOf(this.keyOf(v)) & mask;
      // v may fill the hole when its home is not cyclically within (hole, j].
      if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
        slots[hole] = v;
        hole = j;
      }
    }
    slots[hole] = undefined;
    this.#size--;
    if (slots.length > MIN_CAPACITY && this.#size < slots.length * MIN_LOAD) this.#resize(slots.length / 2);
    return found;
  }

  /** A copy of the values, in table order: the caller may change the table while using it. */
  values(): V[] {
    const out: V[] = [];
    for (const v of this.#slots) if (v !== undefined) out.push(v);
    return out;
  }

  /** Calls `visit` for each value, in table order; the table must not change meanwhile. */
  forEach(visit: (value: V) => void): void {
    for (const v of this.#slots) if (v !== undefined) visit(v);
  }

  #resize(capacity: number): void {
    const old = this.#slots;
    this.#slots = new Array<V | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (const v of old) if (v !== undefined) this.add(v);
  }
}

const MIN_CAPACITY = 16;
/** Grows (doubling) past this load; linear probing stays short below it. */
const MAX_LOAD = 0.75;
/** Shrinks (halving) below this load, so a table emptied by a mass disconnect gives its memory back. */
const MIN_LOAD = 0.25;

function capacityFor(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

/**
 * A per-process random start for hashOf: keys such as bare JIDs are chosen
 * by users (in-band registration), and with a hash anyone can compute they
 * could be picked to share one long probe run (hash flooding). V8's Map,
 * which this table replaces, seeds its string hash per process too.
 */
const SEED = randomBytes(4).readInt32LE(0);

/** FNV-1a over UTF-16 code units from a per-process seed, as a signed 32-bit integer (a Smi: no allocation per lookup). */
export function hashOf(key: string): number {
  let h = (0x811c9dc5 ^ SEED) | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h;
}
