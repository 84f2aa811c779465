/**
 * HPACK (RFC 7541) for the raw HTTP/2 load client (h2-raw.ts): a full
 * decoder (integers, string literals with and without Huffman coding, the
 * static table, the dynamic table with size updates and eviction) and the
 * few encoding primitives the client needs to send literal header fields.
 *
 * The decoder hands every field to a sink as two strings. Fields that come
 * from a table are the strings stored there, so a peer that indexes its
 * repeated response headers (as nghttp2 does) costs no allocation per
 * block. Octets are read as latin1, so every header value round-trips
 * byte for byte.
 */

/** A header block the decoder cannot accept; the HTTP/2 layer treats it as a COMPRESSION_ERROR. */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/** RFC 7541 Appendix A, index 1..61 (element 0 unused). */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length - 1;

/**
 * Code length in bits of each symbol 0..256 (256 = EOS), RFC 7541 Appendix B.
 * The code is canonical (codes of one length are consecutive, in symbol
 * order, and shorter codes come first), so the lengths determine it; the
 * unit tests check the codes this yields against some of the appendix's.
 */
const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32-47
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48-63
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64-79
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80-95
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96-111
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112-127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // EOS
];
export const HUFFMAN_EOS = 256;
const MAX_CODE_LENGTH = 30;

/** The canonical code: per length, the first code, how many codes, and where its symbols start in SORTED. */
const FIRST_CODE = new Int32Array(MAX_CODE_LENGTH + 2);
const CODE_COUNT = new Int32Array(MAX_CODE_LENGTH + 2);
const FIRST_INDEX = new Int32Array(MAX_CODE_LENGTH + 2);
const SORTED = new Uint16Array(257);
/** Each symbol's code (for the tests and the encoder). */
export const HUFFMAN_CODES = new Uint32Array(257);
{
  if (HUFFMAN_LENGTHS.length !== 257) throw new Error(`HPACK Huffman table has ${HUFFMAN_LENGTHS.length} lengths, expected 257`);
  let n = 0;
  let code = 0;
  for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
    FIRST_CODE[len] = code;
    FIRST_INDEX[len] = n;
    for (let sym = 0; sym <= 256; sym++) {
      if (HUFFMAN_LENGTHS[sym] !== len) continue;
      SORTED[n++] = sym;
      HUFFMAN_CODES[sym] = code++;
      CODE_COUNT[len] = (CODE_COUNT[len] as number) + 1;
    }
    code <<= 1;
  }
}
export const huffmanLength = (sym: number): number => HUFFMAN_LENGTHS[sym] as number;

/**
 * Decodes `len` Huffman-coded octets of `src` from `at` into `dst` (at 0);
 * returns the number of octets written. Rejects EOS in the data, padding
 * longer than 7 bits, and padding that is not the most significant bits of
 * EOS (all ones), as RFC 7541 §5.2 requires.
 */
export function huffmanDecode(src: Uint8Array, at: number, len: number, dst: Uint8Array): number {
  let out = 0;
  let code = 0;
  let bits = 0;
  let ones = true; // the bits of the current partial code are all ones
  for (let p = at; p < at + len; p++) {
    const byte = src[p] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      code = (code << 1) | bit;
      bits += 1;
      ones &&= bit === 1;
      const k = code - (FIRST_CODE[bits] as number);
      if (k >= 0 && k < (CODE_COUNT[bits] as number)) {
        const sym = SORTED[(FIRST_INDEX[bits] as number) + k] as number;
        if (sym === HUFFMAN_EOS) throw new HpackError('Huffman-coded string contains EOS');
        if (out >= dst.length) throw new HpackError('Huffman-coded string longer than the decode buffer');
        dst[out++] = sym;
        code = 0;
        bits = 0;
        ones = true;
      } else if (bits >= MAX_CODE_LENGTH) {
        throw new HpackError('invalid Huffman code');
      }
    }
  }
  if (bits > 7) throw new HpackError(`Huffman padding of ${bits} bits (at most 7)`);
  if (!ones) throw new HpackError('Huffman padding is not the most significant bits of EOS');
  return out;
}

/** Huffman-encodes latin1 `s` (tests; the client sends its strings raw). */
export function huffmanEncode(s: string): Uint8Array {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff] as number;
  const out = new Uint8Array(Math.ceil(total / 8));
  let acc = 0;
  let accBits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const code = HUFFMAN_CODES[sym] as number;
    for (let b = (HUFFMAN_LENGTHS[sym] as number) - 1; b >= 0; b--) {
      acc = (acc << 1) | ((code >>> b) & 1);
      if (++accBits === 8) {
        out[o++] = acc;
        acc = 0;
        accBits = 0;
      }
    }
  }
  if (accBits > 0) out[o] = (acc << (8 - accBits)) | (0xff >> accBits);
  return out;
}

/** Largest integer the decoder accepts: more than any table size, index or string length a sane peer sends. */
export const MAX_INTEGER = 2 ** 31 - 1;

/**
 * Writes `value` with an N-bit prefix (RFC 7541 §5.1) at `dst[at]`, keeping
 * the bits above the prefix in `dst[at]` as `flags`; returns the offset after it.
 */
export function encodeInteger(value: number, prefixBits: number, flags: number, dst: Uint8Array, at: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`HPACK integer must be a non-negative safe integer, got ${value}`);
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    dst[at] = flags | value;
    return at + 1;
  }
  dst[at++] = flags | max;
  let rest = value - max;
  while (rest >= 128) {
    dst[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  dst[at++] = rest;
  return at;
}

/** Writes a string literal without Huffman coding (H = 0); latin1 octets. */
export function encodeString(s: string, dst: Uint8Array, at: number): number {
  at = encodeInteger(s.length, 7, 0, dst, at);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`HPACK string must be latin1, got code point ${c} in ${JSON.stringify(s)}`);
    dst[at++] = c;
  }
  return at;
}

/** Receives the fields of one header block, in order. */
export interface HeaderSink {
  header(name: string, value: string): void;
}

/** Per HTTP/2 connection: the receiving side of the peer's header compression. */
export class HpackDecoder {
  /** The most the peer may set the table to: our SETTINGS_HEADER_TABLE_SIZE. */
  readonly #maxTableSize: number;
  #tableSize: number;
  /** Ring of dynamic entries, newest at #head - 1 (mod capacity). */
  #names: string[] = new Array<string>(64);
  #values: string[] = new Array<string>(64);
  #head = 0;
  #count = 0;
  #bytes = 0;
  #pos = 0;
  #scratch = Buffer.allocUnsafe(4096);

  constructor(maxTableSize = 4096) {
    this.#maxTableSize = maxTableSize;
    this.#tableSize = maxTableSize;
  }

  /** The dynamic table's current size in octets (name + value + 32 per entry) and its entries, newest first (tests). */
  get dynamicSize(): number {
    return this.#bytes;
  }
  get tableLimit(): number {
    return this.#tableSize;
  }
  dynamicEntries(): [string, string][] {
    const cap = this.#names.length;
    const out: [string, string][] = [];
    for (let i = 0; i < this.#count; i++) {
      const k = (this.#head - 1 - i + cap) % cap;
      out.push([this.#names[k] as string, this.#values[k] as string]);
    }
    return out;
  }

  /** Decodes the header block `buf[start, end)` into `sink`; throws HpackError on any violation of RFC 7541. */
  decode(buf: Buffer, start: number, end: number, sink: HeaderSink): void {
    this.#pos = start;
    let fields = 0;
    while (this.#pos < end) {
      const b = buf[this.#pos] as number;
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const index = this.#integer(buf, end, 7);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        sink.header(this.#name(index), this.#value(index));
        fields += 1;
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.#integer(buf, end, 6);
        const name = index === 0 ? this.#string(buf, end, 'name') : this.#name(index);
        const value = this.#string(buf, end, 'value');
        this.#insert(name, value);
        sink.header(name, value);
        fields += 1;
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only before the block's first field.
        if (fields > 0) throw new HpackError('dynamic table size update after a header field');
        const size = this.#integer(buf, end, 5);
        if (size > this.#maxTableSize) throw new HpackError(`dynamic table size update to ${size} exceeds the limit ${this.#maxTableSize}`);
        this.#tableSize = size;
        this.#evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3): the same for a decoder.
        const index = this.#integer(buf, end, 4);
        const name = index === 0 ? this.#string(buf, end, 'name') : this.#name(index);
        sink.header(name, this.#string(buf, end, 'value'));
        fields += 1;
      }
    }
  }

  #integer(buf: Buffer, end: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = (buf[this.#pos++] as number) & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.#pos >= end) throw new HpackError('integer runs past the end of the header block');
      const b = buf[this.#pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError(`integer exceeds ${MAX_INTEGER}`);
      if ((b & 0x80) === 0) return value;
      shift += 7;
    }
  }

  #string(buf: Buffer, end: number, what: string): string {
    if (this.#pos >= end) throw new HpackError(`header ${what} missing at the end of the header block`);
    const huffman = ((buf[this.#pos] as number) & 0x80) !== 0;
    const len = this.#integer(buf, end, 7);
    if (len > end - this.#pos) throw new HpackError(`header ${what} of ${len} octets runs past the end of the header block`);
    const at = this.#pos;
    this.#pos += len;
    if (!huffman) return buf.toString('latin1', at, at + len);
    // A Huffman code is at least 5 bits, so the decoded string has at most len · 8 / 5 octets.
    const need = Math.ceil((len * 8) / 5);
    if (this.#scratch.length < need) this.#scratch = Buffer.allocUnsafe(need);
    const n = huffmanDecode(buf, at, len, this.#scratch);
    return this.#scratch.toString('latin1', 0, n);
  }

  #name(index: number): string {
    if (index <= STATIC_COUNT) return (STATIC_TABLE[index] as readonly [string, string])[0];
    return this.#names[this.#slot(index)] as string;
  }

  #value(index: number): string {
    if (index <= STATIC_COUNT) return (STATIC_TABLE[index] as readonly [string, string])[1];
    return this.#values[this.#slot(index)] as string;
  }

  #slot(index: number): number {
    const d = index - STATIC_COUNT - 1;
    if (d >= this.#count) throw new HpackError(`header index ${index} beyond the static and dynamic tables (${STATIC_COUNT + this.#count} entries)`);
    const cap = this.#names.length;
    return (this.#head - 1 - d + cap) % cap;
  }

  /** §4.4: evicts until the new entry fits; an entry larger than the table empties it and is not added. */
  #insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.#tableSize) {
      this.#evict(this.#tableSize);
      return;
    }
    this.#evict(size);
    if (this.#count === this.#names.length) this.#grow();
    const cap = this.#names.length;
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#head = (this.#head + 1) % cap;
    this.#count += 1;
    this.#bytes += size;
  }

  /** Evicts oldest entries until `room` more octets fit within the table size. */
  #evict(room: number): void {
    const cap = this.#names.length;
    while (this.#count > 0 && this.#bytes + room > this.#tableSize) {
      const oldest = (this.#head - this.#count + cap) % cap;
      this.#bytes -= (this.#names[oldest] as string).length + (this.#values[oldest] as string).length + 32;
      this.#names[oldest] = '';
      this.#values[oldest] = '';
      this.#count -= 1;
    }
  }

  #grow(): void {
    const cap = this.#names.length;
    const names = new Array<string>(cap * 2);
    const values = new Array<string>(cap * 2);
    for (let i = 0; i < this.#count; i++) {
      const k = (this.#head - this.#count + i + cap) % cap;
      names[i] = this.#names[k] as string;
      values[i] = this.#values[k] as string;
    }
    this.#names = names;
    this.#values = values;
    this.#head = this.#count;
  }
}
