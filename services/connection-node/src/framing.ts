import {
  streamHeader, STREAM_CLOSE, StreamParser,
  type StreamParserHandlers, type StreamParserLimits,
} from '@vigil/xmpp';

/** What the server puts in its half of a stream opening (RFC 6120 §4.7). */
export interface StreamOpenAttrs {
  readonly from: string;
  readonly id: string;
  readonly to?: string;
  readonly lang?: string;
}

/** Reads one stream's input; a stream restart gets a new one. */
export interface FrameParser {
  write(chunk: Buffer | string): void;
  /** Drops parser state kept between stanzas, if any; true when nothing is kept now. */
  release?(): boolean;
}

/**
 * How XML stream pieces travel on one kind of connection. A ClientStream
 * speaks only in these terms, so the stream logic above (SASL, binding,
 * sessions) is the same over TCP and over WebSocket.
 *
 * Every string returned is one unit for Transport.write: over WebSocket,
 * one message.
 */
export interface Framing {
  readonly name: 'xml-stream' | 'websocket';
  /** The server's stream opening: a stream header, or RFC 7395 §3.4 `<open/>`. */
  open(attrs: StreamOpenAttrs): string;
  /** One top-level element (stanza, features, SASL, stream error) as it goes on the wire. */
  element(xml: string): string;
  /** The end of the server's stream: `</stream:stream>`, or RFC 7395 §3.6 `<close/>`. */
  close(): string;
  /** A parser for a new stream, at the start and at each restart (RFC 6120 §5.4.3.3, §6.4.6). */
  parser(handlers: StreamParserHandlers, limits: StreamParserLimits): FrameParser;
}

/** XMPP over TCP (RFC 6120 §4): one XML document per direction, stanzas as its children. */
export const xmlStreamFraming: Framing = {
  name: 'xml-stream',
  open: (attrs) => streamHeader({ ...attrs, lang: attrs.lang ?? 'en' }),
  element: (xml) => xml,
  close: () => STREAM_CLOSE,
  // Thousands of idle streams: the stream releases its parser's state when idle (ClientStream.receive, sweep).
  // Login steps and most stanzas are plain XML: read by StreamParser's scanner, the XML parser only for the rest.
  parser: (handlers, limits) => new StreamParser(handlers, limits, { plainFastPath: true }),
};
