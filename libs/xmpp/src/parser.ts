/**
 * Incremental parser for one XML stream (RFC 6120 §4), hardened for input
 * from untrusted peers. A stream restart (after STARTTLS or SASL, RFC 6120
 * §5.4.3.3 / §6.4.6) needs a new StreamParser.
 */
import { isUtf8 } from 'node:buffer';
import { SaxesParser, type SaxesTagNS, type XMLDecl } from 'saxes';
import { Element } from './element.js';
import { InputBudget } from './input-budget.js';
import { StreamError, type StreamErrorCondition } from './stream-error.js';
import { blankRun, scanStanza, scanStreamHeader, STREAM_NS } from './plain-scan.js';

/**
 * Input is fed to saxes in slices of at most this many UTF-16 code units
 * (≤ 3 KiB of UTF-8), so the size limit is checked at least that often even
 * when a peer sends one huge chunk.
 */
const SLICE_UNITS = 1024;

const SAX_OPTIONS = {
  xmlns: true,
  position: true,
  // RFC 6120 §11.5: XMPP is XML 1.0 whatever the declaration says.
  defaultXMLVersion: '1.0',
  forceXMLVersion: true,
} as const;

export interface StreamParserLimits {
  /** Largest stanza accepted, in UTF-8 bytes of input (RFC 6120 §13.12 resource exhaustion). */
  maxStanzaBytes: number;
  /** Deepest element nesting accepted, the stanza itself being depth 1. */
  maxDepth: number;
}

export interface StreamParserOptions {
  /**
   * Drop the XML parser's state whenever the input written so far ends
   * between stanzas (only whitespace after the last one), and rebuild it from
   * the stream header when more input comes. An idle stream then costs a few
   * hundred bytes instead of a few kilobytes, for about ten microseconds per
   * write that follows an idle moment. For servers holding many idle streams.
   */
  readonly releaseWhenIdle?: boolean;
  /**
   * Read the stream header and complete stanzas of plain XML (plain-scan.ts)
   * with a scanner, and build the XML parser only for anything else (it is
   * built from the saved header, as after a release). The same events and
   * errors either way; a login's stanzas then never build the parser.
   */
  readonly plainFastPath?: boolean;
}

export interface StreamParserHandlers {
  onStreamOpen(attrs: Record<string, string>, ns: string): void;
  onStanza(stanza: Element): void;
  onStreamClose(): void;
  onError(error: StreamError): void;
}

export class StreamParser {
  readonly #handlers: StreamParserHandlers;
  readonly #limits: StreamParserLimits;
  readonly #releaseWhenIdle: boolean;
  readonly #plainFastPath: boolean;
  /** The namespace of unprefixed stanzas: the stream header's default namespace. */
  #defaultNs = '';
  /** True once the XML parser was given input (the header fast path only reads a stream's first write). */
  #fed = false;
  /** Undefined while released (see StreamParserOptions.releaseWhenIdle). */
  #sax: SaxesParser | undefined;
  /** The text of the stream up to the end of its header, kept to rebuild a released parser. */
  #header = '';
  /** Input before the header completed (bounded by the size limit, checked after each slice). */
  #beforeOpen = '';
  /** Whitespace bytes after the last stanza that a released parser had seen; they still count. */
  #carried = 0;
  /** The first bytes of a UTF-8 sequence split across writes. */
  #utf8Tail: Buffer | undefined;
  /** True while a rebuilt parser reads the saved header: its events were handled already. */
  #replaying = false;
  #opened = false;
  #done = false;
  /** Open elements of the stanza being built; empty between stanzas. */
  #stack: Element[] = [];
  #handlerFailure: { error: unknown } | undefined;
  /**
   * saxes fires closetag for the element it pops *before* checking that the
   * end tag's name matches, so a completed stanza (or the stream close) is
   * held back until saxes moves on without complaint.
   */
  #pending: (() => void) | undefined;
  /**
   * The mark moves to the end of the stream header and of each stanza;
   * everything after it, inter-stanza whitespace included, counts against
   * the next stanza.
   */
  readonly #budget = new InputBudget();

  constructor(handlers: StreamParserHandlers, limits: StreamParserLimits, options: StreamParserOptions = {}) {
    this.#handlers = handlers;
    this.#limits = limits;
    this.#releaseWhenIdle = options.releaseWhenIdle === true;
    this.#plainFastPath = options.plainFastPath === true;
    // With the fast path the XML parser is made when first needed (see #parser).
    this.#sax = this.#plainFastPath ? undefined : this.#newSax();
  }

  #newSax(): SaxesParser {
    const sax = new SaxesParser(SAX_OPTIONS);
    const restricted = (what: string) => (): void => {
      if (this.#ready()) this.#fail('restricted-xml', `${what} are not allowed (RFC 6120 §11.1)`);
    };
    sax.on('doctype', restricted('DTDs'));
    sax.on('comment', restricted('comments'));
    sax.on('processinginstruction', restricted('processing instructions'));
    sax.on('xmldecl', (decl) => {
      if (this.#ready()) this.#onXmlDecl(decl);
    });
    sax.on('opentag', (tag) => {
      if (this.#ready()) this.#onOpenTag(tag);
    });
    sax.on('closetag', () => {
      if (this.#ready()) this.#onCloseTag();
    });
    const onText = (text: string): void => {
      if (this.#ready()) this.#onText(text);
    };
    sax.on('text', onText);
    sax.on('cdata', onText);
    sax.on('error', (error) => {
      if (!this.#replaying) this.#onSaxError(error);
    });
    return sax;
  }

  /** The XML parser, rebuilt from the saved stream header after a release. */
  #parser(): SaxesParser {
    if (this.#sax !== undefined) return this.#sax;
    const sax = this.#newSax();
    this.#replaying = true;
    try {
      if (this.#header !== '') sax.write(this.#header);
    } finally {
      this.#replaying = false;
    }
    this.#budget.restart(this.#header.length, this.#carried);
    this.#carried = 0;
    this.#sax = sax;
    return sax;
  }

  /**
   * Between stanzas with nothing but whitespace pending, nothing of the
   * parser's state matters except the stream header (namespaces in scope)
   * and the count of those whitespace bytes.
   */
  #releaseIfIdle(): void {
    if (this.#releaseWhenIdle) this.release();
  }

  /**
   * Drops the XML parser's state now if the stream is between stanzas (see
   * `idle`); true when it is released. For a caller that decides itself when
   * a stream is idle enough (releaseWhenIdle does it after every write).
   */
  release(): boolean {
    if (this.#sax === undefined) return true;
    if (!this.idle) return false;
    this.#carried = this.#budget.endSlice();
    this.#sax = undefined;
    // A used array keeps its grown backing store.
    this.#stack = [];
    return true;
  }

  /** True while the XML parser's state is released (see StreamParserOptions.releaseWhenIdle). */
  get released(): boolean {
    return this.#sax === undefined;
  }

  /**
   * True between stanzas: the input so far ends after a complete stanza (or
   * the header), with at most whitespace after it.
   */
  get idle(): boolean {
    if (!this.#opened || this.#done || this.#stack.length > 0 || this.#pending !== undefined || this.#utf8Tail !== undefined) return false;
    return this.#sax === undefined || this.#budget.blankAfterMark();
  }

  /** True once the stream was closed by the peer or failed; further input is ignored. */
  get closed(): boolean {
    return this.#done;
  }

  /**
   * Feed bytes (or already-decoded text) from the peer. Chunks may split
   * anywhere, including inside a UTF-8 sequence; do not mix Buffers and
   * strings within one multi-byte character. Parse errors go to onError;
   * an exception thrown by a handler is rethrown here after the parser
   * has closed itself.
   */
  write(chunk: Buffer | string): void {
    if (this.#done) return;
    let text: string;
    if (typeof chunk === 'string') {
      text = chunk;
    } else {
      const decoded = this.#decode(chunk);
      if (decoded === undefined) {
        this.#fail('not-well-formed', 'invalid UTF-8 (RFC 6120 §11.6)');
        this.#rethrowHandlerFailure();
        return;
      }
      text = decoded;
    }
    let offset = this.#plainFastPath ? this.#scanPlain(text) : 0;
    for (; offset < text.length && !this.closed; ) {
      let end = Math.min(offset + SLICE_UNITS, text.length);
      // Keep surrogate pairs together so byte counts of slices add up.
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
      this.#feed(text.slice(offset, end));
      offset = end;
    }
    this.#releaseIfIdle();
    this.#rethrowHandlerFailure();
  }

  /**
   * Bytes to text; an incomplete sequence at the end waits for the next
   * write. Undefined when the input is not UTF-8 (ill-formed, overlong,
   * surrogates, beyond U+10FFFF), or when the held back end cannot begin a
   * well-formed sequence.
   */
  #decode(chunk: Buffer): string | undefined {
    const d = decodeUtf8Chunk(this.#utf8Tail, chunk);
    if (d === undefined) return undefined;
    this.#utf8Tail = d.tail;
    return d.text;
  }

  /**
   * The fast path (StreamParserOptions.plainFastPath): reads the header and
   * whole plain stanzas from the start of `text` while the stream is between
   * stanzas, and returns how much of it was read; the XML parser takes the
   * rest. Whatever it reads, the XML parser never sees: its state is dropped
   * as in a release (nothing of it matters between stanzas) and rebuilt from
   * the header when needed. Limits hold as on the parser's path; an element
   * beyond them is left to the parser, which reports it.
   */
  #scanPlain(text: string): number {
    let p = 0;
    if (!this.#opened) {
      if (this.#fed || this.#done) return 0;
      const header = scanStreamHeader(text);
      if (header === undefined || header.bytes > this.#limits.maxStanzaBytes) return 0;
      this.#opened = true;
      this.#header = internHeader(text.slice(0, header.end));
      this.#defaultNs = header.defaultNs;
      this.#carried = 0;
      this.#emit(() => {
        this.#handlers.onStreamOpen(header.attrs, STREAM_NS);
      });
      p = header.end;
    } else if (this.#done || this.#stack.length > 0 || this.#pending !== undefined || (this.#sax !== undefined && !this.#budget.blankAfterMark())) {
      return 0;
    }
    const max = this.#limits.maxStanzaBytes;
    // Bytes since the end of the last stanza (whitespace only, since the stream is between stanzas).
    let pendingBytes = this.#sax === undefined ? this.#carried : -1;
    while (!this.#done) {
      const stanza = scanStanza(text, p, this.#defaultNs, this.#limits.maxDepth);
      if (stanza === undefined) break;
      if (pendingBytes < 0) pendingBytes = this.#budget.endSlice();
      if (pendingBytes + stanza.bytes > max) break;
      // The XML parser (if any) has not seen this and never will: its state is dropped, as in release().
      this.#sax = undefined;
      this.#stack = [];
      pendingBytes = 0;
      p = stanza.end;
      this.#emit(() => {
        this.#handlers.onStanza(stanza.element);
      });
    }
    if (this.#done) return text.length;
    if (this.#sax === undefined) {
      // Whitespace after the last stanza counts against the next one, as on the parser's path.
      const blank = blankRun(text, p);
      if (p + blank === text.length && pendingBytes + blank <= max) {
        p += blank;
        pendingBytes += blank;
      }
      this.#carried = pendingBytes;
    }
    return p;
  }

  #feed(slice: string): void {
    this.#fed = true;
    const sax = this.#parser();
    if (!this.#opened) this.#beforeOpen += slice;
    this.#budget.beginSlice(slice);
    try {
      sax.write(slice);
    } catch (error: unknown) {
      // saxes throws only if no error handler is set or on an internal invariant; never let it escape.
      this.#fail('not-well-formed', error instanceof Error ? error.message : 'parser failure');
    }
    this.#commit();
    // Checked after every slice, so an unterminated giant text node, attribute
    // or whitespace run is refused long before it completes.
    const pending = this.#budget.endSlice();
    if (pending > this.#limits.maxStanzaBytes) this.#failTooBig(pending);
  }

  /** Bytes since the mark, up to where saxes is now (just past a '>'). */
  #bytesSoFar(): number {
    return this.#budget.bytesUpTo(this.#parser().position);
  }

  #mark(): void {
    this.#budget.markAt(this.#parser().position);
  }

  #failTooBig(bytes: number): void {
    // RFC 6120 §4.9.3.16 policy-violation; §13.12 advises a stanza size limit.
    this.#fail(
      'policy-violation',
      `stanza too big: ${bytes} bytes exceeds the limit of ${this.#limits.maxStanzaBytes}`,
    );
  }

  #onXmlDecl(decl: XMLDecl): void {
    const encoding = decl.encoding;
    if (encoding !== undefined && encoding.toLowerCase() !== 'utf-8') {
      this.#fail('unsupported-encoding', `encoding ${encoding} is not UTF-8 (RFC 6120 §11.6)`);
    }
  }

  #onOpenTag(tag: SaxesTagNS): void {
    const attrs = collectAttrs(tag);
    if (!this.#opened) {
      // RFC 6120 §4.8.1: the root must be <stream/> qualified by the streams namespace.
      if (tag.local !== 'stream' || tag.uri !== STREAM_NS) {
        this.#fail('invalid-namespace', `root element must be <stream/> in ${STREAM_NS}`);
        return;
      }
      const headerBytes = this.#bytesSoFar();
      if (headerBytes > this.#limits.maxStanzaBytes) {
        this.#failTooBig(headerBytes);
        return;
      }
      this.#opened = true;
      this.#defaultNs = attrs.xmlns ?? '';
      this.#header = internHeader(this.#beforeOpen.slice(0, this.#parser().position));
      this.#beforeOpen = '';
      this.#mark();
      this.#emit(() => {
        this.#handlers.onStreamOpen(attrs, tag.uri);
      });
      return;
    }
    if (this.#stack.length >= this.#limits.maxDepth) {
      this.#fail('policy-violation', `elements nested deeper than ${this.#limits.maxDepth}`);
      return;
    }
    const element = new Element(tag.name, attrs);
    element.ns = tag.uri;
    this.#stack.at(-1)?.children.push(element);
    this.#stack.push(element);
  }

  #onCloseTag(): void {
    const element = this.#stack.pop();
    if (element === undefined) {
      // </stream:stream>: anything after it is ignored (RFC 6120 §4.4).
      this.#pending = () => {
        this.#done = true;
        this.#emit(() => {
          this.#handlers.onStreamClose();
        });
      };
      return;
    }
    if (this.#stack.length > 0) return;
    const bytes = this.#bytesSoFar();
    if (bytes > this.#limits.maxStanzaBytes) {
      this.#failTooBig(bytes);
      return;
    }
    this.#mark();
    this.#pending = () => {
      this.#emit(() => {
        this.#handlers.onStanza(element);
      });
    };
  }

  #onText(text: string): void {
    const top = this.#stack.at(-1);
    if (top === undefined) {
      // Between stanzas only whitespace (keepalives) may appear. Before the
      // root, saxes itself reports non-whitespace text.
      if (this.#opened && /[^ \t\r\n]/.test(text)) {
        this.#fail('not-well-formed', 'character data between stanzas');
      }
      return;
    }
    const last = top.children.length - 1;
    const previous = top.children[last];
    // saxes may deliver one run of character data in pieces (e.g. around CDATA).
    if (typeof previous === 'string') top.children[last] = previous + text;
    else top.children.push(text);
  }

  #onSaxError(error: Error): void {
    const message = error.message;
    // A mismatched end tag invalidates the element saxes just popped; any other
    // error concerns input after it, so a stanza completed before stands.
    if (/unexpected close tag|unmatched closing tag/.test(message)) this.#pending = undefined;
    else this.#commit();
    let condition: StreamErrorCondition = 'not-well-formed';
    // Only the five predefined entities exist here; anything else is an
    // entity reference RFC 6120 §11.1 forbids. It is never expanded.
    if (message.includes('undefined entity')) condition = 'restricted-xml';
    else if (message.includes('unbound namespace prefix')) condition = 'bad-namespace-prefix';
    this.#fail(condition, message);
  }

  /** Deliver what saxes has confirmed, then report whether events are still wanted. */
  #ready(): boolean {
    if (this.#replaying) return false;
    this.#commit();
    return !this.#done;
  }

  #commit(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined && !this.#done) pending();
  }

  #fail(condition: StreamErrorCondition, text: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    this.#stack = [];
    this.#emit(() => {
      this.#handlers.onError(new StreamError(condition, text));
    });
  }

  /** Handlers run inside saxes callbacks; an exception must not leave saxes half-way through a chunk. */
  #emit(call: () => void): void {
    try {
      call();
    } catch (error: unknown) {
      this.#done = true;
      this.#handlerFailure ??= { error };
    }
  }

  #rethrowHandlerFailure(): void {
    const failure = this.#handlerFailure;
    if (failure === undefined) return;
    this.#handlerFailure = undefined;
    throw failure.error;
  }
}

/**
 * The text of `chunk` read after `tail` (the incomplete sequence the last
 * chunk ended with, if any), and the new incomplete end to hold back for
 * the next one. Undefined when the bytes are not UTF-8 (ill-formed,
 * overlong, surrogates, beyond U+10FFFF) or the held back end cannot begin
 * a well-formed sequence.
 */
export function decodeUtf8Chunk(tail: Buffer | undefined, chunk: Buffer): { text: string; tail: Buffer | undefined } | undefined {
  const bytes = tail === undefined ? chunk : Buffer.concat([tail, chunk]);
  const cut = incompleteTail(bytes);
  const whole = cut === bytes.length ? bytes : bytes.subarray(0, cut);
  if (!isUtf8(whole)) return undefined;
  return { text: whole.toString('utf8'), tail: cut === bytes.length ? undefined : Buffer.from(bytes.subarray(cut)) };
}

/**
 * Where an incomplete UTF-8 sequence at the end of `bytes` begins (its
 * length when there is none). Only a well-formed beginning is held back
 * (RFC 3629 §4): anything else is left in, so validation refuses it now.
 */
export function incompleteTail(bytes: Uint8Array): number {
  const n = bytes.length;
  let lead = n - 1;
  while (lead >= 0 && lead > n - 4 && ((bytes[lead] ?? 0) & 0xc0) === 0x80) lead--;
  if (lead < 0) return n;
  const b = bytes[lead] ?? 0;
  const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  const have = n - lead;
  if (need === 0 || have >= need) return n;
  if (have >= 2) {
    const second = bytes[lead + 1] ?? 0;
    const [lo, hi] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    if (second < lo || second > hi) return n;
  }
  return lead;
}

/**
 * Most clients send the same few stream headers: released parsers of
 * thousands of streams share one copy of each (a bounded table; headers
 * beyond it are kept per stream).
 */
const HEADERS = new Map<string, string>();
const MAX_HEADERS = 256;

function internHeader(header: string): string {
  const known = HEADERS.get(header);
  if (known !== undefined) return known;
  if (HEADERS.size < MAX_HEADERS && header.length <= 1024) HEADERS.set(header, header);
  return header;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Attributes exactly as written (including xmlns and xmlns:* declarations).
 * Defined as own properties so a hostile attribute named `__proto__` cannot
 * reach the prototype.
 */
function collectAttrs(tag: SaxesTagNS): Record<string, string> {
  const attrs: Record<string, string> = {};
  const all = tag.attributes;
  for (const key in all) {
    const attribute = all[key];
    if (attribute === undefined) continue;
    const name = attribute.name;
    // Plain assignment is the fast path; only `__proto__` would reach the prototype through it.
    if (name !== '__proto__') attrs[name] = attribute.value;
    else Object.defineProperty(attrs, name, { value: attribute.value, enumerable: true, writable: true, configurable: true });
  }
  return attrs;
}
