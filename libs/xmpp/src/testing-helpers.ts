/**
 * Shared by this package's unit tests only (not exported from index.ts).
 * The file name deliberately does not match node --test's file patterns.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import type { Element } from './element.js';
import { StreamParser, type StreamParserLimits, type StreamParserOptions } from './parser.js';
import type { ScramHash } from './scram-credential.js';
import type { StreamError } from './stream-error.js';

export const STREAM_OPEN =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

export const GENEROUS_LIMITS: StreamParserLimits = { maxStanzaBytes: 1 << 20, maxDepth: 64 };

export type ParseEvent =
  | { kind: 'open'; attrs: Record<string, string>; ns: string }
  | { kind: 'stanza'; stanza: Element }
  | { kind: 'close' }
  | { kind: 'error'; error: StreamError };

export interface Recorder {
  parser: StreamParser;
  events: ParseEvent[];
  stanzas(): Element[];
  errors(): StreamError[];
}

/** Options of every parser record() makes; suites run once per mode (node:test runs them in order). */
let parserOptions: StreamParserOptions = {};

export const PARSER_MODES: readonly { readonly name: string; readonly options: StreamParserOptions }[] = [
  { name: 'parser kept', options: {} },
  { name: 'parser released when idle', options: { releaseWhenIdle: true } },
  { name: 'plain fast path', options: { plainFastPath: true } },
  { name: 'plain fast path, released when idle', options: { plainFastPath: true, releaseWhenIdle: true } },
];

export function setParserOptions(options: StreamParserOptions): void {
  parserOptions = options;
}

export function record(limits: StreamParserLimits = GENEROUS_LIMITS): Recorder {
  const events: ParseEvent[] = [];
  const parser = new StreamParser(
    {
      onStreamOpen: (attrs, ns) => events.push({ kind: 'open', attrs, ns }),
      onStanza: (stanza) => events.push({ kind: 'stanza', stanza }),
      onStreamClose: () => events.push({ kind: 'close' }),
      onError: (error) => events.push({ kind: 'error', error }),
    },
    limits,
    parserOptions,
  );
  return {
    parser,
    events,
    stanzas: () => events.flatMap((e) => (e.kind === 'stanza' ? [e.stanza] : [])),
    errors: () => events.flatMap((e) => (e.kind === 'error' ? [e.error] : [])),
  };
}

/** Parse the given chunks as one stream and return what the handlers saw. */
export function parseChunks(chunks: (Buffer | string)[], limits?: StreamParserLimits): Recorder {
  const recorder = record(limits);
  for (const chunk of chunks) recorder.parser.write(chunk);
  return recorder;
}

export interface PlainElement {
  name: string;
  attrs: Record<string, string>;
  children: (PlainElement | string)[];
}

/** Structural view for deepStrictEqual: adjacent text merged, empty text dropped, ns left out. */
export function plain(element: Element): PlainElement {
  const children: (PlainElement | string)[] = [];
  for (const child of element.children) {
    const last = children.at(-1);
    if (typeof child !== 'string') children.push(plain(child));
    else if (child === '') continue;
    else if (typeof last === 'string') children[children.length - 1] = last + child;
    else children.push(child);
  }
  return { name: element.name, attrs: { ...element.attrs }, children };
}

export function plainEvents(events: ParseEvent[]): unknown[] {
  return events.map((event) => {
    if (event.kind === 'stanza') return { kind: 'stanza', ns: event.stanza.ns, stanza: plain(event.stanza) };
    if (event.kind === 'error') return { kind: 'error', condition: event.error.condition };
    return event;
  });
}

/** Client side of SCRAM (RFC 5802 §3), just enough to produce client-final messages in tests. */
export function scramClientFinal(
  hash: ScramHash,
  password: string,
  clientFirstBare: string,
  serverFirst: string,
  gs2Header = 'n,,',
): string {
  const fields = new Map(serverFirst.split(',').map((f) => [f.slice(0, 1), f.slice(2)] as const));
  const salt = Buffer.from(fields.get('s') ?? '', 'base64');
  const iterations = Number(fields.get('i'));
  const size = hash === 'sha1' ? 20 : 32;
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, size, hash);
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  const storedKey = createHash(hash).update(clientKey).digest();
  const withoutProof = `c=${Buffer.from(gs2Header).toString('base64')},r=${fields.get('r') ?? ''}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(hash, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (signature[i] ?? 0)));
  return `${withoutProof},p=${proof.toString('base64')}`;
}
