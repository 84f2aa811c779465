import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Element, StreamError, StreamParserLimits } from '@vigil/xmpp';
import { NS_FRAMING, WebSocketFrameParser, declareNamespaces, webSocketFraming } from './websocket-framing.js';

const LIMITS: StreamParserLimits = { maxStanzaBytes: 1024, maxDepth: 16 };
const OPEN = `<open xmlns='${NS_FRAMING}' to='example.com' version='1.0'/>`;

type Event = { open: Record<string, string> } | { stanza: Element } | { close: true } | { error: StreamError };

function frames(...messages: (string | Buffer)[]): Event[] {
  const events: Event[] = [];
  const parser = new WebSocketFrameParser(
    {
      onStreamOpen: (attrs) => events.push({ open: attrs }),
      onStanza: (stanza) => events.push({ stanza }),
      onStreamClose: () => events.push({ close: true }),
      onError: (error) => events.push({ error }),
    },
    LIMITS,
  );
  for (const m of messages) parser.write(m);
  return events;
}

function errorOf(events: Event[]): string | undefined {
  const last = events.at(-1);
  return last !== undefined && 'error' in last ? last.error.condition : undefined;
}

test('<open/> opens the stream with the jabber:client content namespace (RFC 7395 §3.3.2)', () => {
  const [first] = frames(OPEN);
  assert.ok(first && 'open' in first);
  assert.equal(first.open.xmlns, 'jabber:client');
  assert.equal(first.open.to, 'example.com');
  assert.equal(first.open.version, '1.0');
});

test('a stanza frame is one element, in jabber:client when it names no namespace', () => {
  const events = frames(OPEN, `<presence/>`, Buffer.from(`<message xmlns='jabber:client' to='a@example.com'><body>hé</body></message>`));
  const stanzas = events.flatMap((e) => ('stanza' in e ? [e.stanza] : []));
  assert.deepEqual(stanzas.map((s) => [s.name, s.ns]), [['presence', 'jabber:client'], ['message', 'jabber:client']]);
  assert.equal(stanzas[1]?.getChildText('body'), 'hé');
});

test('<close/> closes the stream; later messages are ignored', () => {
  const events = frames(OPEN, `<close xmlns='${NS_FRAMING}'/>`, `<presence/>`);
  assert.deepEqual(events.slice(1), [{ close: true }]);
});

test('a whitespace-only message is a keepalive, not an error', () => {
  assert.equal(frames(OPEN, '  \n').length, 1);
});

test('messages that are not exactly one complete element are not-well-formed', () => {
  for (const bad of [`<presence>`, `<presence/><presence/>`, `<presence/></stream:stream>`, `</presence>`, `text`, `<?xml version='1.0'?><presence/>`]) {
    assert.equal(errorOf(frames(OPEN, bad)), 'not-well-formed', bad);
  }
});

test('restricted XML stays refused inside a frame', () => {
  assert.equal(errorOf(frames(OPEN, `<presence><!-- c --></presence>`)), 'restricted-xml');
  assert.equal(errorOf(frames(OPEN, `<presence><?pi x?></presence>`)), 'restricted-xml');
  // Inside the frame's root a DOCTYPE is not even well-formed; either way it is never read.
  assert.equal(errorOf(frames(OPEN, `<!DOCTYPE x [<!ENTITY a "a">]><presence>&a;</presence>`)), 'not-well-formed');
});

test('anything before <open/> is invalid-namespace', () => {
  assert.equal(errorOf(frames(`<presence/>`)), 'invalid-namespace');
  assert.equal(errorOf(frames(`<open xmlns='jabber:client' to='example.com' version='1.0'/>`)), 'invalid-namespace');
});

test('a message over the stanza limit is a policy-violation before it is parsed', () => {
  assert.equal(errorOf(frames(OPEN, `<message><body>${'x'.repeat(2000)}</body></message>`)), 'policy-violation');
});

test('after an error nothing more is reported', () => {
  const events = frames(OPEN, `<presence>`, `<presence/>`);
  assert.equal(events.length, 2);
});

test('outgoing elements declare the namespaces a stream header would have (RFC 7395 §3.3.3)', () => {
  assert.equal(declareNamespaces(`<presence from='a@b/c'/>`), `<presence xmlns='jabber:client' from='a@b/c'/>`);
  assert.equal(declareNamespaces(`<iq type='result' id='1'><bind/></iq>`), `<iq xmlns='jabber:client' type='result' id='1'><bind/></iq>`);
  assert.equal(declareNamespaces(`<message xmlns='jabber:client'/>`), `<message xmlns='jabber:client'/>`);
  assert.equal(declareNamespaces(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`), `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
  assert.equal(
    declareNamespaces(`<stream:features><bind/></stream:features>`),
    `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind/></stream:features>`,
  );
  // A '>' inside an attribute value does not end the start tag early.
  assert.equal(declareNamespaces(`<message a="x>y" xmlns="jabber:client"/>`), `<message a="x>y" xmlns="jabber:client"/>`);
});

test('the server <open/> and <close/> are framing elements', () => {
  assert.equal(
    webSocketFraming.open({ from: 'example.com', id: 'abc' }),
    `<open xmlns='${NS_FRAMING}' from='example.com' id='abc' version='1.0' xml:lang='en'/>`,
  );
  assert.equal(webSocketFraming.close(), `<close xmlns='${NS_FRAMING}'/>`);
});
