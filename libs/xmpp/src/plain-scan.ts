/**
 * A scanner for the plain XML most clients send (StreamParser's fast path):
 * a stream header of the usual shape and complete stanzas made of ASCII
 * names without prefixes, quoted attribute values and text without entity
 * or character references, comments, CDATA, processing instructions,
 * carriage returns or control characters. Whatever it does not recognise
 * it leaves to the full XML parser (saxes), which reads it or reports the
 * error as before: the scanner only ever accepts input the parser would
 * accept, and builds the same elements from it (plain-scan.test.ts feeds
 * random streams to both). Pure functions over a string.
 */
import { Element } from './element.js';

export const STREAM_NS = 'http://etherx.jabber.org/streams';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const LT = 60;
const GT = 62;
const SLASH = 47;
const EQ = 61;
const APOS = 39;
const QUOT = 34;
const AMP = 38;
const QUESTION = 63;

function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46;
}

/** XML whitespace without the carriage return (which the parser normalises). */
function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9;
}

/**
 * UTF-8 bytes of the character unit at `c`, or 0 when the fast path leaves
 * it to the parser: markup characters, '>', CR, controls, DEL to U+009F,
 * U+FFFE/U+FFFF, and a surrogate that is not part of a pair (strings
 * written directly are not validated as UTF-8 is).
 */
function plainCharBytes(t: string, i: number, c: number): number {
  if (c >= 32 && c < 127) return c === LT || c === AMP || c === GT ? 0 : 1;
  if (c === 10 || c === 9) return 1;
  // Also the end of the string (NaN).
  if (!(c >= 0xa0)) return 0;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = t.charCodeAt(i + 1);
    return next >= 0xdc00 && next <= 0xdfff ? 2 : 0;
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const prev = t.charCodeAt(i - 1);
    return prev >= 0xd800 && prev <= 0xdbff ? 2 : 0;
  }
  return c >= 0xfffe ? 0 : 3;
}

/** Where the scan stands: the position after what was read, and its UTF-8 bytes. */
interface Cursor {
  pos: number;
  bytes: number;
}

/** An unprefixed ASCII name at `cur.pos`; undefined (cursor unchanged) when there is none. */
function scanName(t: string, cur: Cursor): string | undefined {
  const start = cur.pos;
  if (!isNameStart(t.charCodeAt(start))) return undefined;
  let p = start + 1;
  while (isNameChar(t.charCodeAt(p))) p++;
  cur.pos = p;
  cur.bytes += p - start;
  return t.slice(start, p);
}

function skipSpace(t: string, cur: Cursor): number {
  const start = cur.pos;
  let p = start;
  while (isSpace(t.charCodeAt(p))) p++;
  cur.pos = p;
  cur.bytes += p - start;
  return p - start;
}

/** A quoted value (after optional spaces, '=' and optional spaces); undefined when not plain. */
function scanValue(t: string, cur: Cursor): string | undefined {
  skipSpace(t, cur);
  if (t.charCodeAt(cur.pos) !== EQ) return undefined;
  cur.pos++;
  cur.bytes++;
  skipSpace(t, cur);
  const quote = t.charCodeAt(cur.pos);
  if (quote !== APOS && quote !== QUOT) return undefined;
  const start = cur.pos + 1;
  let p = start;
  let bytes = 2;
  for (;;) {
    const c = t.charCodeAt(p);
    if (c === quote) break;
    // Tabs and newlines in a value are normalised to spaces by the parser: left to it.
    const n = c === 10 || c === 9 ? 0 : plainCharBytes(t, p, c);
    if (n === 0) return undefined;
    bytes += n;
    p++;
  }
  cur.pos = p + 1;
  cur.bytes += bytes;
  return t.slice(start, p);
}

/** Sets an attribute as the parser does: `__proto__` as an own property, never the prototype. */
function setAttr(attrs: Record<string, string>, name: string, value: string): boolean {
  if (Object.hasOwn(attrs, name)) return false; // a duplicate: not well-formed, the parser says so
  if (name !== '__proto__') attrs[name] = value;
  else Object.defineProperty(attrs, name, { value, enumerable: true, writable: true, configurable: true });
  return true;
}

/**
 * One element at `cur.pos` (which holds '<' followed by a name start), with
 * its content and end tag, or undefined when any of it is not plain, is
 * incomplete, or nests deeper than `depthLeft` levels (the element itself
 * being one).
 */
function scanElement(t: string, cur: Cursor, parentNs: string, depthLeft: number): Element | undefined {
  if (depthLeft < 1) return undefined;
  cur.pos++;
  cur.bytes++;
  const name = scanName(t, cur);
  if (name === undefined) return undefined;
  const attrs: Record<string, string> = {};
  let ns = parentNs;
  let selfClosing = false;
  for (;;) {
    const spaced = skipSpace(t, cur) > 0;
    const c = t.charCodeAt(cur.pos);
    if (c === GT) break;
    if (c === SLASH) {
      if (t.charCodeAt(cur.pos + 1) !== GT) return undefined;
      cur.pos++;
      cur.bytes++;
      selfClosing = true;
      break;
    }
    if (!spaced) return undefined;
    const attrName = scanName(t, cur);
    if (attrName === undefined) return undefined;
    const value = scanValue(t, cur);
    if (value === undefined) return undefined;
    if (attrName === 'xmlns') {
      // Undeclaring the default namespace, the reserved names, and spaces around the name (the parser trims them): left to it.
      if (value === '' || value === XML_NS || value === XMLNS_NS || value.trim() !== value) return undefined;
      ns = value;
    }
    if (!setAttr(attrs, attrName, value)) return undefined;
  }
  cur.pos++; // '>'
  cur.bytes++;
  const element = new Element(name, attrs);
  element.ns = ns;
  if (selfClosing) return element;
  for (;;) {
    const start = cur.pos;
    let p = start;
    let bytes = 0;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === LT || Number.isNaN(c)) break;
      const n = plainCharBytes(t, p, c);
      if (n === 0) return undefined;
      bytes += n;
      p++;
    }
    if (p > start) element.children.push(t.slice(start, p));
    cur.pos = p;
    cur.bytes += bytes;
    if (p >= t.length) return undefined; // incomplete
    const next = t.charCodeAt(p + 1);
    if (next === SLASH) {
      cur.pos += 2;
      cur.bytes += 2;
      if (scanName(t, cur) !== name) return undefined;
      skipSpace(t, cur);
      if (t.charCodeAt(cur.pos) !== GT) return undefined;
      cur.pos++;
      cur.bytes++;
      return element;
    }
    if (!isNameStart(next)) return undefined;
    const child = scanElement(t, cur, ns, depthLeft - 1);
    if (child === undefined) return undefined;
    element.children.push(child);
  }
}

/** A stanza the scanner read: the element, where it ends, and its UTF-8 bytes with the whitespace before it. */
export interface ScannedStanza {
  readonly element: Element;
  readonly end: number;
  readonly bytes: number;
}

/**
 * Whitespace, then one complete plain top-level element, from `from`.
 * Undefined when what follows is anything else (including nothing: see
 * `blankRun` for trailing whitespace).
 */
export function scanStanza(t: string, from: number, defaultNs: string, maxDepth: number): ScannedStanza | undefined {
  const cur: Cursor = { pos: from, bytes: 0 };
  skipSpace(t, cur);
  if (t.charCodeAt(cur.pos) !== LT || !isNameStart(t.charCodeAt(cur.pos + 1))) return undefined;
  const element = scanElement(t, cur, defaultNs, maxDepth);
  return element === undefined ? undefined : { element, end: cur.pos, bytes: cur.bytes };
}

/** The length of the run of XML whitespace (without CR) at `from`. */
export function blankRun(t: string, from: number): number {
  let p = from;
  while (isSpace(t.charCodeAt(p))) p++;
  return p - from;
}

/** A stream header the scanner read (RFC 6120 §4.7): attributes as written, the default namespace of its content. */
export interface ScannedHeader {
  readonly attrs: Record<string, string>;
  readonly defaultNs: string;
  readonly end: number;
  readonly bytes: number;
}

/**
 * An optional XML declaration (version 1.0, encoding UTF-8 if any) and a
 * `<stream:stream>` start tag whose prefix is bound to the streams
 * namespace, at the start of `t`. Attributes: xmlns, xmlns:stream, xml:lang
 * and unprefixed ones. Anything else is left to the parser.
 */
export function scanStreamHeader(t: string): ScannedHeader | undefined {
  const cur: Cursor = { pos: 0, bytes: 0 };
  if (t.startsWith('<?xml')) {
    cur.pos = cur.bytes = 5;
    if (skipSpace(t, cur) === 0 || scanName(t, cur) !== 'version' || scanValue(t, cur) !== '1.0') return undefined;
    const spaced = skipSpace(t, cur) > 0;
    if (spaced && t.startsWith('encoding', cur.pos)) {
      if (scanName(t, cur) !== 'encoding' || scanValue(t, cur)?.toLowerCase() !== 'utf-8') return undefined;
      skipSpace(t, cur);
    }
    if (t.charCodeAt(cur.pos) !== QUESTION || t.charCodeAt(cur.pos + 1) !== GT) return undefined;
    cur.pos += 2;
    cur.bytes += 2;
    skipSpace(t, cur);
  }
  if (!t.startsWith('<stream:stream', cur.pos)) return undefined;
  cur.pos += 14;
  cur.bytes += 14;
  const attrs: Record<string, string> = {};
  for (;;) {
    const spaced = skipSpace(t, cur) > 0;
    if (t.charCodeAt(cur.pos) === GT) break;
    if (!spaced) return undefined;
    let attrName = scanName(t, cur);
    if (attrName === undefined) return undefined;
    if (t.charCodeAt(cur.pos) === 58 /* ':' */) {
      cur.pos++;
      cur.bytes++;
      const local = scanName(t, cur);
      const qualified = `${attrName}:${local ?? ''}`;
      if (qualified !== 'xmlns:stream' && qualified !== 'xml:lang') return undefined;
      attrName = qualified;
    }
    const value = scanValue(t, cur);
    if (value === undefined) return undefined;
    if ((attrName === 'xmlns' || attrName === 'xmlns:stream') && (value === '' || value === XML_NS || value === XMLNS_NS || value.trim() !== value)) return undefined;
    if (!setAttr(attrs, attrName, value)) return undefined;
  }
  if (attrs['xmlns:stream'] !== STREAM_NS) return undefined;
  cur.pos++;
  cur.bytes++;
  return { attrs, defaultNs: attrs.xmlns ?? '', end: cur.pos, bytes: cur.bytes };
}
