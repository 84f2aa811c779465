/**
 * The load generator's reader of one XMPP stream from the server: a string
 * scanner for the plain XML servers send (what Vigil's nodes send is all
 * of it), with the full, hardened StreamParser of @vigil/xmpp behind it for
 * everything else.
 *
 * The scanner accepts a strict subset of XML 1.0 with namespaces and
 * refuses the rest: ASCII names, quoted attribute values without tab,
 * newline or '<', the five predefined entities and no other reference, no
 * comments, CDATA, processing instructions or DOCTYPE, no namespace
 * prefixes but those the stream header binds (and xml: on attributes), no
 * control characters, no carriage return. On the first thing it refuses,
 * the rest of the input goes to a StreamParser that was fed the same
 * stream header; once that parser is between stanzas again, the scanner
 * takes over. So whatever the scanner accepts, it must read exactly as the
 * parser would (stanza-reader.test.ts checks that on random input), and
 * whatever it refuses, the parser reads or reports as before.
 *
 * With `fastPresence` on, a childless <presence/> is not built into an
 * Element at all: only its `from` and `type` attributes are handed over.
 */
import { isAscii } from 'node:buffer';
import { Element, NS, StreamParser, decodeUtf8Chunk } from '@vigil/xmpp';

export interface StanzaReaderHandlers {
  /** The stream header arrived. */
  onStreamOpen(): void;
  /** A complete top-level element (a presence only when fastPresence is off or it is not a plain one). */
  onStanza(stanza: Element): void;
  /** A childless <presence/> in the stream's default namespace, with fastPresence on: its from and type, undefined when absent. */
  onPresence(from: string | undefined, type: string | undefined): void;
  onStreamClose(): void;
  /** The input is not a well-formed XMPP stream (or breaks a limit); nothing more is read from this stream. */
  onError(message: string): void;
}

/** Limits well above anything a server sends: the load generator must not be the one refusing. */
export const READER_LIMITS = { maxStanzaBytes: 4 * 1024 * 1024, maxDepth: 64 } as const;
/** An element still incomplete at this many UTF-16 units goes to the full parser (which bounds it by maxStanzaBytes). */
const MAX_SCANNED_PENDING = 64 * 1024;
const MAX_SCANNED_ATTRIBUTES = 32;

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** Characters XML 1.0 forbids (§2.2), plus carriage return, which end-of-line handling would rewrite (§2.11). */
// eslint-disable-next-line no-control-regex -- these are exactly the characters to find
const REFUSED_CHARS = /[\x00-\x08\x0b-\x1f\ufffe\uffff]/;
/** What an attribute value cannot hold as is: '<' (not well-formed), tab and newline (normalised to spaces, §3.3.3), references. */
const VALUE_SPECIAL = /[<\t\n&]/;
/** '&' not starting one of the five predefined entities. */
const OTHER_REFERENCE = /&(?!(?:lt|gt|amp|quot|apos);)/;
const ENTITY = /&(lt|gt|amp|quot|apos);/g;
const ENTITY_TEXT: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const XML_DECL = /<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(['"])1\.0\1(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(['"])[Uu][Tt][Ff]-8\2)?[ \t\n]*\?>/y;
/** Longest XML declaration XML_DECL can match, plus slack: a longer unmatched one is refused, not waited for. */
const MAX_XML_DECL = 128;

/** Scan results besides an end index. */
const INCOMPLETE = -1;
const REFUSED = -2;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const EQ = 0x3d;
const COLON = 0x3a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09;
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
}

function decodeEntities(raw: string): string | undefined {
  if (raw.indexOf('&') < 0) return raw;
  if (OTHER_REFERENCE.test(raw)) return undefined;
  return raw.replace(ENTITY, (_, name: string) => ENTITY_TEXT[name] as string);
}

/** One open tag as scanned: reused for every tag (the scanner is not re-entrant). */
interface Tag {
  qname: string;
  /** Index of the ':' in qname, or -1. */
  colon: number;
  /** Attributes in document order: names[k] = values[k] for k < count (arrays reused from tag to tag). */
  readonly names: string[];
  readonly values: string[];
  count: number;
  /** Namespace declarations seen (only the stream header may have them). */
  declarations: Record<string, string> | undefined;
  selfClosing: boolean;
}

export class StanzaReader {
  /** Hand childless presence over as from + type instead of an Element (see onPresence). */
  fastPresence = false;

  readonly #handlers: StanzaReaderHandlers;
  /** The stream header once scanned ('' before, or when the parser read it). */
  #header = '';
  #defaultNs = '';
  #prefixes: Record<string, string> = {};
  /** Text received and not consumed yet: an incomplete element, or the header not yet complete. */
  #pending = '';
  #utf8Tail: Buffer | undefined;
  #opened = false;
  #done = false;
  /** The full parser, once the scanner refused something in this stream; `#inParser` while it has the input. */
  #parser: StreamParser | undefined;
  #inParser = false;
  /** How many times input went to the full parser, and how many stanzas the scanner read itself (for tests and reports). */
  fallbacks = 0;
  scanned = 0;
  readonly #tag: Tag = { qname: '', colon: -1, names: [], values: [], count: 0, declarations: undefined, selfClosing: false };

  constructor(handlers: StanzaReaderHandlers) {
    this.#handlers = handlers;
  }

  /** True once the stream ended (closed by the peer, or an error); further input is ignored. */
  get closed(): boolean {
    return this.#done;
  }

  /** A new stream begins (RFC 6120 §4.3.3: after SASL success): expect a new header. */
  restart(): void {
    this.#header = '';
    this.#defaultNs = '';
    this.#prefixes = {};
    this.#pending = '';
    this.#utf8Tail = undefined;
    this.#opened = false;
    this.#done = false;
    this.#parser = undefined;
    this.#inParser = false;
  }

  /** Bytes from the socket; a chunk may end anywhere, inside a UTF-8 sequence included. */
  write(chunk: Buffer): void {
    if (this.#done) return;
    const text = this.#decode(chunk);
    if (text === undefined) return this.#fail('invalid UTF-8 (RFC 6120 §11.6)');
    this.writeText(text);
  }

  /**
   * The first `length` bytes of `bytes`, which the caller reuses once this
   * returns (a socket's shared read buffer): ASCII, the usual case, is read
   * as Latin-1 straight into a string; anything else is decoded and
   * validated as in write(), a split sequence's start copied out.
   */
  writeBytes(bytes: Buffer, length: number): void {
    if (this.#done) return;
    if (this.#utf8Tail === undefined && isAscii(bytes.subarray(0, length))) {
      this.writeText(bytes.toString('latin1', 0, length));
      return;
    }
    this.write(bytes.subarray(0, length));
  }

  /** Already decoded text (for tests; write() and writeBytes() are the socket's ways in). */
  writeText(text: string): void {
    if (this.#done) return;
    if (this.#inParser) {
      this.#toParser(text);
      return;
    }
    this.#scan(this.#pending === '' ? text : this.#pending + text);
  }

  /**
   * Hands an incomplete element still held to the full parser, which
   * reports what is already wrong in it (the scanner waits for the rest
   * before judging). For tests that compare the two on input that stops.
   */
  drainToParser(): void {
    if (this.#done || this.#pending === '') return;
    this.#toParser(this.#pending);
  }

  #decode(chunk: Buffer): string | undefined {
    const d = decodeUtf8Chunk(this.#utf8Tail, chunk);
    if (d === undefined) return undefined;
    this.#utf8Tail = d.tail;
    return d.text;
  }

  #scan(text: string): void {
    this.#pending = '';
    const refusedAt = text.search(REFUSED_CHARS);
    const limit = refusedAt < 0 ? text.length : refusedAt;
    let i = 0;
    if (!this.#opened) {
      const end = this.#scanHeader(text, limit);
      if (end === INCOMPLETE) return this.#keep(text, 0);
      if (end === REFUSED) return this.#toParser(text);
      i = end;
      if (this.#done) return;
    }
    const n = text.length;
    while (!this.#done) {
      while (i < n && isSpace(text.charCodeAt(i))) i++;
      if (i >= n) return;
      if (text.charCodeAt(i) !== LT) return this.#toParser(text.slice(i));
      if (i + 1 >= n) return this.#keep(text, i);
      if (text.charCodeAt(i + 1) === SLASH) {
        const end = this.#scanStreamClose(text, i, limit);
        if (end === INCOMPLETE) return this.#keep(text, i);
        if (end === REFUSED) return this.#toParser(text.slice(i));
        this.#done = true;
        this.#handlers.onStreamClose();
        return;
      }
      const end = this.#scanStanza(text, i, limit);
      if (end === INCOMPLETE) return this.#keep(text, i);
      if (end === REFUSED) return this.#toParser(text.slice(i));
      i = end;
    }
  }

  /** Keeps text[from…] for the next write, unless it grew too large to keep rescanning. */
  #keep(text: string, from: number): void {
    const rest = from === 0 ? text : text.slice(from);
    if (rest.length > MAX_SCANNED_PENDING) return this.#toParser(rest);
    this.#pending = rest;
  }

  /** The rest of the input goes to the full parser, which was fed the header the scanner read (if it did). */
  #toParser(text: string): void {
    this.#pending = '';
    let parser = this.#parser;
    if (parser === undefined) {
      parser = this.#newParser();
      this.#parser = parser;
      if (this.#header !== '') parser.write(this.#header);
    }
    if (!this.#inParser) this.fallbacks += 1;
    this.#inParser = true;
    parser.write(text);
    // Between stanzas again: the scanner can go on, if it knows the header's namespaces.
    if (!this.#done && this.#header !== '' && parser.idle) this.#inParser = false;
  }

  #newParser(): StreamParser {
    return new StreamParser(
      {
        onStreamOpen: () => {
          // Only when the parser read the header itself (the scanner refused it).
          if (this.#opened) return;
          this.#opened = true;
          this.#handlers.onStreamOpen();
        },
        onStanza: (stanza) => this.#handlers.onStanza(stanza),
        onStreamClose: () => {
          this.#done = true;
          this.#handlers.onStreamClose();
        },
        onError: (e) => this.#fail(`${e.condition}: ${e.message}`),
      },
      READER_LIMITS,
    );
  }

  #fail(message: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = '';
    this.#handlers.onError(message);
  }

  /** [XML declaration] S? <stream:stream …>: the end of the header, INCOMPLETE or REFUSED. */
  #scanHeader(text: string, limit: number): number {
    let i = 0;
    if (text.startsWith('<?', 0)) {
      XML_DECL.lastIndex = 0;
      if (!XML_DECL.test(text)) return text.length < MAX_XML_DECL && text.indexOf('>') < 0 ? INCOMPLETE : REFUSED;
      i = XML_DECL.lastIndex;
    }
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (i >= text.length) return INCOMPLETE;
    if (text.charCodeAt(i) !== LT) return REFUSED;
    const tag = this.#tag;
    const end = this.#scanOpenTag(text, i, limit, true);
    if (end < 0) return end;
    if (tag.selfClosing) return REFUSED;
    const declarations = tag.declarations ?? {};
    const prefix = tag.colon < 0 ? undefined : tag.qname.slice(0, tag.colon);
    const local = tag.colon < 0 ? tag.qname : tag.qname.slice(tag.colon + 1);
    const xmlns = attrValue(tag, 'xmlns');
    const ns = prefix === undefined ? (xmlns ?? '').trim() : declarations[prefix];
    // RFC 6120 §4.8.1: anything else is the parser's to report (invalid-namespace).
    if (local !== 'stream' || ns !== NS.stream) return REFUSED;
    this.#defaultNs = (xmlns ?? '').trim();
    this.#prefixes = declarations;
    this.#header = text.slice(0, end);
    this.#opened = true;
    this.#handlers.onStreamOpen();
    return end;
  }

  /** '</' qname S? '>' closing the stream header's element. */
  #scanStreamClose(text: string, i: number, limit: number): number {
    const qname = this.#headerQname();
    const nameEnd = i + 2 + qname.length;
    if (text.length < nameEnd) return qname.startsWith(text.slice(i + 2)) ? INCOMPLETE : REFUSED;
    if (!text.startsWith(qname, i + 2)) return REFUSED;
    let j = nameEnd;
    while (j < text.length && isSpace(text.charCodeAt(j))) j++;
    if (j >= text.length) return INCOMPLETE;
    if (text.charCodeAt(j) !== GT || j >= limit) return REFUSED;
    return j + 1;
  }

  #headerQname(): string {
    // The header ends with its open tag; its qname follows the last '<'.
    const start = this.#header.lastIndexOf('<') + 1;
    let end = start;
    while (end < this.#header.length && (isNameChar(this.#header.charCodeAt(end)) || this.#header.charCodeAt(end) === COLON)) end++;
    return this.#header.slice(start, end);
  }

  /** One top-level element at text[i] === '<': handed over, and its end returned; INCOMPLETE or REFUSED. */
  #scanStanza(text: string, i: number, limit: number): number {
    const tag = this.#tag;
    const end = this.#scanOpenTag(text, i, limit, false);
    if (end < 0) return end;
    if (this.fastPresence && tag.qname === 'presence' && attrValue(tag, 'xmlns') === undefined) {
      const presenceEnd = tag.selfClosing ? end : emptyContentEnd(text, end, 'presence', limit);
      if (presenceEnd === INCOMPLETE) return INCOMPLETE;
      if (presenceEnd !== REFUSED) {
        this.scanned += 1;
        this.#handlers.onPresence(attrValue(tag, 'from'), attrValue(tag, 'type'));
        return presenceEnd;
      }
    }
    const stanza = this.#build(this.#defaultNs);
    if (stanza === undefined) return REFUSED;
    const stanzaEnd = tag.selfClosing ? end : this.#scanContent(text, end, limit, stanza, scopeOf(stanza.attrs, this.#defaultNs), 1);
    if (stanzaEnd < 0) return stanzaEnd;
    this.scanned += 1;
    this.#handlers.onStanza(stanza);
    return stanzaEnd;
  }

  /** The Element for the tag just scanned; undefined when its prefix is not one the header binds. */
  #build(defaultNs: string): Element | undefined {
    const tag = this.#tag;
    const attrs: Record<string, string> = {};
    // '__proto__' was refused: plain assignment cannot reach the prototype.
    for (let k = 0; k < tag.count; k++) attrs[tag.names[k] as string] = tag.values[k] as string;
    let ns: string | undefined;
    if (tag.colon < 0) ns = scopeOf(attrs, defaultNs);
    else {
      const prefix = tag.qname.slice(0, tag.colon);
      ns = prefix === 'xml' || prefix === 'xmlns' ? undefined : this.#prefixes[prefix];
    }
    if (ns === undefined) return undefined;
    const element = new Element(tag.qname, attrs);
    element.ns = ns;
    return element;
  }

  /**
   * The content and end tag of `element`, whose open tag ends at j, with
   * `inScope` the default namespace its children inherit; the index after
   * its end tag, INCOMPLETE or REFUSED.
   */
  #scanContent(text: string, j: number, limit: number, element: Element, inScope: string, depth: number): number {
    const qname = element.name;
    for (;;) {
      const lt = text.indexOf('<', j);
      if (lt < 0 || lt >= limit) return lt < 0 && limit === text.length ? INCOMPLETE : REFUSED;
      if (lt > j) {
        const raw = text.slice(j, lt);
        if (raw.includes(']]>')) return REFUSED;
        const decoded = decodeEntities(raw);
        if (decoded === undefined) return REFUSED;
        element.children.push(decoded);
      }
      if (lt + 1 >= text.length) return INCOMPLETE;
      const next = text.charCodeAt(lt + 1);
      if (next === SLASH) {
        const nameEnd = lt + 2 + qname.length;
        if (text.length < nameEnd) return qname.startsWith(text.slice(lt + 2)) ? INCOMPLETE : REFUSED;
        if (!text.startsWith(qname, lt + 2)) return REFUSED;
        let k = nameEnd;
        while (k < text.length && isSpace(text.charCodeAt(k))) k++;
        if (k >= text.length) return INCOMPLETE;
        if (text.charCodeAt(k) !== GT || k >= limit) return REFUSED;
        return k + 1;
      }
      if (!isNameStart(next)) return REFUSED;
      if (depth >= READER_LIMITS.maxDepth) return REFUSED;
      const openEnd = this.#scanOpenTag(text, lt, limit, false);
      if (openEnd < 0) return openEnd;
      const child = this.#build(inScope);
      if (child === undefined) return REFUSED;
      element.children.push(child);
      j = this.#tag.selfClosing ? openEnd : this.#scanContent(text, openEnd, limit, child, scopeOf(child.attrs, inScope), depth + 1);
      if (j < 0) return j;
    }
  }

  /**
   * '<' qname (S attr)* S? ('>' | '/>') at text[i] into this.#tag (a new
   * attribute arrays reused); the index after it, INCOMPLETE or REFUSED.
   * Namespace declarations (xmlns:p) only when `header`.
   */
  #scanOpenTag(text: string, i: number, limit: number, header: boolean): number {
    const n = text.length;
    const tag = this.#tag;
    let j = i + 1;
    const nameEnd = scanQname(text, j);
    if (nameEnd < 0) return nameEnd;
    tag.qname = knownName(text, j, nameEnd);
    tag.colon = tag.qname.indexOf(':');
    const names = tag.names;
    const values = tag.values;
    tag.count = 0;
    tag.declarations = undefined;
    j = nameEnd;
    for (;;) {
      if (j >= n) return INCOMPLETE;
      let c = text.charCodeAt(j);
      const spaced = isSpace(c);
      while (isSpace(c)) {
        if (++j >= n) return INCOMPLETE;
        c = text.charCodeAt(j);
      }
      if (c === GT) {
        if (j >= limit) return REFUSED;
        tag.selfClosing = false;
        return j + 1;
      }
      if (c === SLASH) {
        if (j + 1 >= n) return INCOMPLETE;
        if (text.charCodeAt(j + 1) !== GT || j + 1 >= limit) return REFUSED;
        tag.selfClosing = true;
        return j + 2;
      }
      if (!spaced) return REFUSED;
      const attrEnd = scanQname(text, j);
      if (attrEnd < 0) return attrEnd;
      const name = knownName(text, j, attrEnd);
      j = attrEnd;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      if (j >= n) return INCOMPLETE;
      if (text.charCodeAt(j) !== EQ) return REFUSED;
      j++;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      if (j >= n) return INCOMPLETE;
      const quote = text.charCodeAt(j);
      if (quote !== 0x27 && quote !== 0x22) return REFUSED;
      const close = text.indexOf(quote === 0x27 ? "'" : '"', j + 1);
      if (close < 0) return limit === n ? INCOMPLETE : REFUSED;
      if (close >= limit) return REFUSED;
      const raw = text.slice(j + 1, close);
      j = close + 1;
      let value: string | undefined = raw;
      if (VALUE_SPECIAL.test(raw)) {
        if (raw.includes('<') || raw.includes('\t') || raw.includes('\n')) return REFUSED;
        value = decodeEntities(raw);
      }
      // Past MAX_SCANNED_ATTRIBUTES the duplicate check below would grow quadratic: the parser's.
      if (value === undefined || name === '__proto__' || tag.count >= MAX_SCANNED_ATTRIBUTES) return REFUSED;
      for (let k = 0; k < tag.count; k++) if (names[k] === name) return REFUSED;
      const colon = name.indexOf(':');
      if (colon >= 0) {
        const prefix = name.slice(0, colon);
        if (prefix === 'xmlns') {
          // Namespace names are trimmed (as saxes does).
          const declared = name.slice(colon + 1);
          const uri = value.trim();
          if (!header || declared === 'xml' || declared === 'xmlns' || uri === '' || uri === XML_NS || uri === XMLNS_NS) return REFUSED;
          (tag.declarations ??= {})[declared] = uri;
        } else if (prefix !== 'xml') {
          return REFUSED;
        }
      } else if (name === 'xmlns') {
        const uri = value.trim();
        if (uri === XML_NS || uri === XMLNS_NS) return REFUSED;
      }
      names[tag.count] = name;
      values[tag.count] = value;
      tag.count += 1;
    }
  }
}

/**
 * When text[j…] is the end tag of `qname` right away (no content), the
 * index after it; INCOMPLETE when the text stops before that is known;
 * REFUSED otherwise (there is content, or it is not well-formed).
 */
function emptyContentEnd(text: string, j: number, qname: string, limit: number): number {
  const n = text.length;
  const nameEnd = j + 2 + qname.length;
  if (n < nameEnd) return `</${qname}`.startsWith(text.slice(j)) ? INCOMPLETE : REFUSED;
  if (text.charCodeAt(j) !== LT || text.charCodeAt(j + 1) !== SLASH || !text.startsWith(qname, j + 2)) return REFUSED;
  let k = nameEnd;
  while (k < n && isSpace(text.charCodeAt(k))) k++;
  if (k >= n) return INCOMPLETE;
  return text.charCodeAt(k) === GT && k < limit ? k + 1 : REFUSED;
}

/** The value of the attribute `name` of the tag just scanned. */
function attrValue(tag: Tag, name: string): string | undefined {
  for (let k = 0; k < tag.count; k++) if (tag.names[k] === name) return tag.values[k];
  return undefined;
}

/** The default namespace in scope inside `element`: its own declaration, else the one in scope for it. */
function scopeOf(attrs: Record<string, string>, outer: string): string {
  const declared = attrs.xmlns;
  return declared === undefined || !Object.hasOwn(attrs, 'xmlns') ? outer : declared.trim();
}

/**
 * Names servers send all the time, as constants: a slice of the input
 * would be a new string each time, and one that V8 must look up in its
 * string table again when it becomes a property key.
 */
const KNOWN_NAMES = new Map<number, string[]>();
for (const name of ['presence', 'iq', 'message', 'from', 'to', 'type', 'id', 'xmlns', 'xml:lang', 'item', 'jid', 'name', 'subscription', 'query', 'ver', 'bind', 'stream:features', 'version']) {
  const key = name.length * 128 + name.charCodeAt(0);
  KNOWN_NAMES.set(key, [...(KNOWN_NAMES.get(key) ?? []), name]);
}

function knownName(text: string, start: number, end: number): string {
  const candidates = KNOWN_NAMES.get((end - start) * 128 + text.charCodeAt(start));
  if (candidates !== undefined) {
    for (const name of candidates) if (text.startsWith(name, start)) return name;
  }
  return text.slice(start, end);
}

/** Name (':' Name)? of ASCII name characters at text[j]: its end, INCOMPLETE or REFUSED. */
function scanQname(text: string, j: number): number {
  const n = text.length;
  if (j >= n) return INCOMPLETE;
  if (!isNameStart(text.charCodeAt(j))) return REFUSED;
  let k = j + 1;
  let colons = 0;
  for (; k < n; k++) {
    const c = text.charCodeAt(k);
    if (isNameChar(c)) continue;
    if (c === COLON) {
      if (++colons > 1 || k + 1 >= n) return k + 1 >= n ? INCOMPLETE : REFUSED;
      if (!isNameStart(text.charCodeAt(k + 1))) return REFUSED;
      continue;
    }
    // Anything beyond ASCII in a name is valid XML, but the parser's to read.
    if (c >= 0x80) return REFUSED;
    return k;
  }
  return INCOMPLETE;
}

