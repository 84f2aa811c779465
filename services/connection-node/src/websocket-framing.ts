import { randomBytes } from 'node:crypto';
import {
  el, NS, StreamError, StreamParser,
  type Element, type StreamErrorCondition, type StreamParserHandlers, type StreamParserLimits,
} from '@vigil/xmpp';
import type { Framing, FrameParser } from './framing.js';

/** RFC 7395 §3.3.1: `<open/>` and `<close/>` live here instead of the stream header and footer. */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/**
 * Each message is parsed as the only child of a synthetic root, which
 * declares what a TCP stream header would: a stanza frame without an xmlns
 * is jabber:client, and the `stream:` prefix is bound. The root's own prefix
 * is random, so no message can close it with an end tag of its own.
 */
function frameRoot(): { open: string; close: string } {
  const prefix = `r${randomBytes(8).toString('hex')}`;
  return {
    open: `<${prefix}:stream xmlns:${prefix}='${NS.stream}' xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`,
    close: `</${prefix}:stream>`,
  };
}

/** XMPP over WebSocket (RFC 7395): one complete element per text message. */
export const webSocketFraming: Framing = {
  name: 'websocket',
  // RFC 7395 §3.4: the server's <open/> carries what its stream header would.
  open: (attrs) =>
    el('open', { xmlns: NS_FRAMING, from: attrs.from, id: attrs.id, to: attrs.to, version: '1.0', 'xml:lang': attrs.lang ?? 'en' }).toString(),
  element: declareNamespaces,
  close: () => `<close xmlns='${NS_FRAMING}'/>`,
  parser: (handlers, limits) => new WebSocketFrameParser(handlers, limits),
};

/**
 * RFC 7395 §3.3.3: every message is a complete element with every namespace
 * it uses declared on it, since no stream header stands around it. Stanzas
 * are serialized for a stream whose default namespace is jabber:client, so
 * add that, and bind the `stream:` prefix of features and errors.
 */
export function declareNamespaces(xml: string): string {
  const tag = openingTag(xml);
  if (tag === undefined) return xml;
  const declared = attributeNames(xml.slice(1 + tag.name.length, tag.end));
  let extra = '';
  if (tag.name.startsWith('stream:')) {
    if (!declared.has('xmlns:stream')) extra = ` xmlns:stream='${NS.stream}'`;
  } else if (!tag.name.includes(':') && !declared.has('xmlns')) {
    extra = ` xmlns='${NS.client}'`;
  }
  return extra === '' ? xml : `<${tag.name}${extra}${xml.slice(1 + tag.name.length)}`;
}

/** The name of the first element and where its start tag's attributes end ('>' or '/>'). */
function openingTag(xml: string): { name: string; end: number } | undefined {
  const name = /^<([A-Za-z_][\w.:-]*)/.exec(xml)?.[1];
  if (name === undefined) return undefined;
  let quote = '';
  for (let i = 1 + name.length; i < xml.length; i++) {
    const c = xml[i];
    if (quote !== '') {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '>') {
      return { name, end: xml[i - 1] === '/' ? i - 1 : i };
    }
  }
  return undefined;
}

function attributeNames(attrs: string): Set<string> {
  const names = new Set<string>();
  for (const m of attrs.matchAll(/([^\s=]+)\s*=\s*(?:'[^']*'|"[^"]*")/g)) {
    if (m[1] !== undefined) names.add(m[1]);
  }
  return names;
}

/**
 * Reads WebSocket messages as RFC 7395 frames. Each message is parsed on its
 * own, by a hardened StreamParser inside a synthetic stream root, so a frame
 * that is not exactly one complete element is refused instead of being
 * joined to the next one. `<open/>` and `<close/>` become the stream open
 * and close events a TCP stream's header and footer would give.
 */
export class WebSocketFrameParser implements FrameParser {
  #opened = false;
  #done = false;
  readonly #root = frameRoot();

  constructor(
    private readonly handlers: StreamParserHandlers,
    private readonly limits: StreamParserLimits,
  ) {}

  /** One whole WebSocket text message. */
  write(message: Buffer | string): void {
    if (this.#done) return;
    const bytes = typeof message === 'string' ? Buffer.byteLength(message, 'utf8') : message.length;
    // Refused before parsing: the frame is already whole in memory, so no need to read it.
    if (bytes > this.limits.maxStanzaBytes) {
      return this.#fail('policy-violation', `frame too big: ${bytes} bytes exceeds the limit of ${this.limits.maxStanzaBytes}`);
    }
    const parsed = parseFrame(message, this.#root, this.limits);
    if ('error' in parsed) return this.#fail(parsed.error.condition, parsed.error.text ?? parsed.error.message);
    if (parsed.element !== undefined) this.#dispatch(parsed.element);
  }

  #dispatch(element: Element): void {
    if (element.ns === NS_FRAMING && element.name === 'open') {
      this.#opened = true;
      // RFC 7395 §3.3.2: the framing namespace stands in for the stream header's; the content is jabber:client.
      this.handlers.onStreamOpen({ ...element.attrs, xmlns: NS.client }, NS.stream);
      return;
    }
    if (!this.#opened) {
      return this.#fail('invalid-namespace', `the first message must be <open/> in ${NS_FRAMING} (RFC 7395 §3.4)`);
    }
    if (element.ns === NS_FRAMING && element.name === 'close') {
      this.#done = true;
      this.handlers.onStreamClose();
      return;
    }
    this.handlers.onStanza(element);
  }

  #fail(condition: StreamErrorCondition, text: string): void {
    this.#done = true;
    this.handlers.onError(new StreamError(condition, text));
  }
}

/** The single element of one message, none for a whitespace keepalive, or why the message is refused. */
function parseFrame(message: Buffer | string, root: { open: string; close: string }, limits: StreamParserLimits): { element: Element | undefined } | { error: StreamError } {
  const seen: { elements: Element[]; error: StreamError | undefined; rootClosed: boolean } = { elements: [], error: undefined, rootClosed: false };
  const parser = new StreamParser(
    {
      onStreamOpen: () => undefined,
      onStanza: (e) => seen.elements.push(e),
      onStreamClose: () => {
        seen.rootClosed = true;
      },
      onError: (e) => {
        seen.error ??= e;
      },
    },
    limits,
  );
  parser.write(root.open);
  parser.write(message);
  if (seen.error !== undefined) return { error: seen.error };
  if (seen.rootClosed) return { error: new StreamError('not-well-formed', 'a message closed the stream root (RFC 7395 §3.3.3)') };
  parser.write(root.close);
  if (seen.error !== undefined) return { error: seen.error };
  if (!seen.rootClosed) return { error: new StreamError('not-well-formed', 'incomplete element in a message (RFC 7395 §3.3.3)') };
  if (seen.elements.length > 1) return { error: new StreamError('not-well-formed', 'more than one element in a message (RFC 7395 §3.3.3)') };
  return { element: seen.elements[0] };
}
