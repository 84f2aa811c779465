import type { Element } from './element.js';
import { StreamParser } from './parser.js';
import { StreamError } from './stream-error.js';
import { NS } from './stanzas.js';

const WRAPPER_OPEN = `<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>`;

/**
 * Parses one serialized stanza (as nodes put on the bus) with the same
 * hardened parser as client streams, in the jabber:client namespace.
 * Throws StreamError when the text is not exactly one well-formed element.
 */
export function parseStanza(xml: string, limits = { maxStanzaBytes: 1 << 20, maxDepth: 64 }): Element {
  let result: Element | undefined;
  let failure: StreamError | undefined;
  let count = 0;
  const parser = new StreamParser(
    {
      onStreamOpen: () => undefined,
      onStanza: (el) => {
        count++;
        result = el;
      },
      onStreamClose: () => undefined,
      onError: (e) => {
        failure = e;
      },
    },
    limits,
  );
  parser.write(WRAPPER_OPEN);
  parser.write(xml);
  if (failure) throw failure;
  if (count !== 1 || result === undefined) throw new StreamError('not-well-formed', `expected one stanza, got ${count}`);
  return result;
}
