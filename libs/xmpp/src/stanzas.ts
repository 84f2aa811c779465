/** Namespaces, stream framing and stanza errors (RFC 6120 §4, §8). */
import { type Element, el, escapeAttr, escapeText } from './element.js';
import type { StreamErrorCondition } from './stream-error.js';

export const NS = {
  client: 'jabber:client',
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  roster: 'jabber:iq:roster',
  ping: 'urn:xmpp:ping',
  rosterver: 'urn:xmpp:features:rosterver',
  disco_info: 'http://jabber.org/protocol/disco#info',
  delay: 'urn:xmpp:delay',
} as const;

export const STREAM_CLOSE = '</stream:stream>';

/** The response stream header a server sends (RFC 6120 §4.7). */
export function streamHeader(opts: { from: string; id: string; to?: string; lang?: string }): string {
  let attrs = ` from='${escapeAttr(opts.from)}' id='${escapeAttr(opts.id)}'`;
  if (opts.to !== undefined) attrs += ` to='${escapeAttr(opts.to)}'`;
  if (opts.lang !== undefined) attrs += ` xml:lang='${escapeAttr(opts.lang)}'`;
  return (
    `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'` +
    `${attrs} version='1.0'>`
  );
}

/** RFC 6120 §4.9.2: <stream:error> with the condition and optional human-readable text. */
export function streamErrorXml(condition: StreamErrorCondition, text?: string): string {
  const description =
    text === undefined ? '' : `<text xmlns='${NS.streams}' xml:lang='en'>${escapeText(text)}</text>`;
  return `<stream:error><${condition} xmlns='${NS.streams}'/>${description}</stream:error>`;
}

/** RFC 6120 §6.4.5: SASL <failure/> with a defined condition and optional text. */
export function saslFailureXml(condition: string, text?: string): string {
  // The condition becomes an element name, so it must be one: never let caller data shape markup.
  if (!/^[a-z][a-z-]*$/.test(condition)) throw new RangeError(`not a SASL condition name: ${condition}`);
  const description = text === undefined ? '' : `<text xml:lang='en'>${escapeText(text)}</text>`;
  return `<failure xmlns='${NS.sasl}'><${condition}/>${description}</failure>`;
}

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** RFC 6120 §8.3.3: the defined stanza error conditions. */
export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'gone'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'redirect'
  | 'registration-required'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'subscription-required'
  | 'undefined-condition'
  | 'unexpected-request';

/** The error type each RFC 6120 §8.3.3 subsection says the condition SHOULD carry. */
export const DEFAULT_ERROR_TYPE: Record<StanzaErrorCondition, StanzaErrorType> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  // §8.3.3.21 allows any type; cancel is the conservative choice.
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
};

/** A stanza-level error as a value: the condition, its type and optional text. */
export class StanzaError extends Error {
  /** Defaults to DEFAULT_ERROR_TYPE[condition] when not given. */
  readonly type: StanzaErrorType;

  constructor(
    readonly condition: StanzaErrorCondition,
    type?: StanzaErrorType,
    readonly text?: string,
    /** RFC 6120 §8.3.2: an application-specific condition element, e.g. XEP-0191's <blocked/>. */
    readonly application?: Element,
  ) {
    super(text === undefined ? condition : `${condition}: ${text}`);
    this.name = 'StanzaError';
    this.type = type ?? DEFAULT_ERROR_TYPE[condition];
  }
}

/**
 * RFC 6120 §8.3.1: an error reply keeps the stanza's name and id, swaps
 * 'to' and 'from' and carries <error/>. No original payload is echoed.
 * Callers must not answer a stanza of type 'error' with another error
 * (§8.3.1, to avoid loops).
 */
export function errorReply(stanza: Element, error: StanzaError, serverFrom?: string): Element {
  const description =
    error.text === undefined
      ? undefined
      : el('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }, error.text);
  return el(
    stanza.name,
    {
      id: stanza.attr('id'),
      type: 'error',
      to: stanza.attr('from'),
      from: stanza.attr('to') ?? serverFrom,
    },
    el('error', { type: error.type }, el(error.condition, { xmlns: NS.stanzas }), description, error.application),
  );
}

/** RFC 6120 §8.2.3: the result for an IQ get/set, with the same id and swapped addresses. */
export function iqResult(iq: Element, payload?: Element): Element {
  return el(
    'iq',
    { id: iq.attr('id'), type: 'result', to: iq.attr('from'), from: iq.attr('to') },
    payload,
  );
}

/** A serialized stanza with `to` written first: `<presence from=…/>` → `<presence to='jid' from=…/>`. */
export function withTo(stanzaXml: string, to: string): string {
  const end = stanzaNameEnd(stanzaXml);
  return `${stanzaXml.slice(0, end)} to='${escapeAttr(to)}'${stanzaXml.slice(end)}`;
}

/**
 * Where the element name of a serialized stanza ends: `<presence from=…` → 9.
 * The name is lowercase ASCII letters followed by whitespace, '/' or '>'.
 * A loop rather than a regular expression: a fan-out calls withTo once per
 * recipient, and a match array per call was most of its garbage.
 */
function stanzaNameEnd(stanzaXml: string): number {
  let i = 1;
  if (stanzaXml.charCodeAt(0) === 0x3c) while (isLowerAscii(stanzaXml.charCodeAt(i))) i++;
  const next = stanzaXml.charCodeAt(i);
  // \s of a JavaScript regular expression, as before: XML's four plus what JavaScript also counts as white space.
  if (i === 1 || !(next === 0x20 || next === 0x2f || next === 0x3e || /\s/.test(stanzaXml.charAt(i)))) {
    throw new TypeError(`not a serialized stanza: ${stanzaXml.slice(0, 40)}`);
  }
  return i;
}

function isLowerAscii(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}
