import type { Element } from './element.js';
import { StreamParser, type StreamParserLimits } from './parser.js';
import { StreamError } from './stream-error.js';
import { NS } from './stanzas.js';

const WRAPPER_OPEN = `<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`;

const DEFAULT_LIMITS = { maxStanzaBytes: 1 << 20, maxDepth: 64 };

/** Collects what one parseStanza call produced. */
class Collector {
  result: Element | undefined;
  failure: StreamError | undefined;
  count = 0;

  onStreamOpen(): void {}

  onStanza(el: Element): void {
    this.count++;
    this.result = el;
  }

  onStreamClose(): void {}

  onError(e: StreamError): void {
    this.failure = e;
  }

  reset(): void {
    this.result = undefined;
    this.failure = undefined;
    this.count = 0;
  }
}

/**
 * One parser serves every call with the default limits: after a stanza it
 * stands between stanzas, ready for the next, so a call costs the stanza's
 * parsing and not a new XML parser plus a stream header each time. Any call
 * that leaves it elsewhere (an error, an incomplete element, a stream close)
 * throws it away.
 */
let shared: { parser: StreamParser; collector: Collector } | undefined;

function freshParser(limits: StreamParserLimits): { parser: StreamParser; collector: Collector } {
  const collector = new Collector();
  const parser = new StreamParser(collector, limits);
  parser.write(WRAPPER_OPEN);
  return { parser, collector };
}

/**
 * Parses one serialized stanza (as nodes put on the bus) with the same
 * hardened parser as client streams, in the jabber:client namespace.
 * Throws StreamError when the text is not exactly one well-formed element.
 */
export function parseStanza(xml: string, limits: StreamParserLimits = DEFAULT_LIMITS): Element {
  const reuse = limits === DEFAULT_LIMITS;
  const p = reuse ? (shared ??= freshParser(limits)) : freshParser(limits);
  // Not shared while in use: a handler here never calls parseStanza, but an exception must not leave it half-used.
  if (reuse) shared = undefined;
  const { parser, collector } = p;
  collector.reset();
  parser.write(xml);
  const { result, failure, count } = collector;
  if (reuse && failure === undefined && parser.idle) shared = p;
  if (failure) throw failure;
  if (count !== 1 || result === undefined) throw new StreamError('not-well-formed', `expected one stanza, got ${count}`);
  return result;
}
