import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StreamParser, type StreamParserLimits, type StreamParserOptions } from './parser.js';
import { scanStanza, scanStreamHeader, STREAM_NS } from './plain-scan.js';
import type { Element } from './element.js';
import { plainEvents, STREAM_OPEN, type ParseEvent } from './testing-helpers.js';

/** Every element's resolved namespace, depth first (plainEvents compares the stanza's own only). */
function namespaces(e: Element): string[] {
  return [e.ns, ...e.getChildElements().flatMap(namespaces)];
}

function run(chunks: readonly Buffer[], limits: StreamParserLimits, options: StreamParserOptions): { events: unknown[]; parser: StreamParser } {
  const events: ParseEvent[] = [];
  const parser = new StreamParser(
    {
      onStreamOpen: (attrs, ns) => events.push({ kind: 'open', attrs: { ...attrs }, ns }),
      onStanza: (stanza) => events.push({ kind: 'stanza', stanza }),
      onStreamClose: () => events.push({ kind: 'close' }),
      onError: (error) => events.push({ kind: 'error', error }),
    },
    limits,
    options,
  );
  for (const c of chunks) parser.write(c);
  const nss = events.flatMap((e) => (e.kind === 'stanza' ? [namespaces(e.stanza)] : []));
  return { events: [...plainEvents(events), nss], parser };
}

function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

// Pieces chosen to sit on both sides of every rule of the scanner.
const nameArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('iq', 'query', 'presence', 'message', 'body', 'a', 'x-y', 'n.1', '_u') },
  { weight: 1, arbitrary: fc.constantFrom('stream:x', 'p:q', '1bad', 'é') },
);
const attrNameArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('id', 'type', 'to', 'xmlns', 'xmlns', '__proto__', 'constructor', 'a-b') },
  { weight: 1, arbitrary: fc.constantFrom('xml:lang', 'xmlns:p') },
);
const charArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('a', 'Z', ' ', '0', '=', '/', 'é', '€', '😀', '\ufffd', 'ns:x', '"', "'", ']') },
  { weight: 1, arbitrary: fc.constantFrom('<', '>', '&', '&amp;', '&#65;', '\r', '\t', '\n', ']]>', '\u0001', '\u007f', '\u0085') },
);
const textArb = fc.array(charArb, { maxLength: 6 }).map((a) => a.join(''));
const valueArb = fc.oneof(textArb, fc.constantFrom('jabber:client', 'jabber:iq:roster', '', 'http://www.w3.org/XML/1998/namespace', 'urn:ietf:params:xml:ns:xmpp-sasl'));
const spaceArb = fc.constantFrom('', ' ', '\n', '  \t', '\r\n');
const quoteArb = fc.constantFrom("'", '"');

const elementArb: fc.Arbitrary<string> = fc.letrec<{ el: string }>((tie) => ({
  el: fc.tuple(
    nameArb,
    fc.array(fc.tuple(attrNameArb, valueArb, quoteArb, spaceArb), { maxLength: 3 }),
    fc.oneof(
      { weight: 2, arbitrary: fc.constant<(string | null)[] | null>(null) },
      { weight: 3, arbitrary: fc.array(fc.oneof(textArb, tie('el')), { maxLength: 3 }) },
    ),
    fc.oneof({ weight: 9, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('<!-- c -->', '<![CDATA[x]]>', '<?pi x?>', '</wrong>') }),
  ).map(([name, attrs, children, odd]) => {
    const a = attrs.map(([n, v, q, s]) => ` ${n}${s}=${q}${v.split(q).join('')}${q}`).join('');
    if (children === null) return `<${name}${a}/>${odd}`;
    return `<${name}${a}>${children.join('')}${odd}</${name}>`;
  }),
})).el;

const headerArb = fc.constantFrom(
  STREAM_OPEN,
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>",
  '<?xml version="1.0" encoding="UTF-8"?>\n<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" version="1.0">',
  "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
  "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
  "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'>",
  "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>",
  "<stream xmlns='jabber:client'>",
  " <?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
);

/** Plain stanzas of the shapes clients send, nested namespaces included. */
const typicalArb = fc.constantFrom(
  "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query></iq>",
  "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>",
  "<message to='a@b' type='chat'><body>hi there</body><x xmlns='jabber:x:event'><composing/></x></message>",
  "<presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
  "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hLHI9Yg==</auth>",
  '<r xmlns="urn:xmpp:sm:3"/>',
);

const streamArb = fc.tuple(
  headerArb,
  fc.array(fc.tuple(spaceArb, fc.oneof(elementArb, typicalArb)), { maxLength: 6 }),
  fc.constantFrom('', ' ', '</stream:stream>', 'junk', '<iq'),
).map(([h, stanzas, end]) => `${h}${stanzas.map(([s, e]) => s + e).join('')}${end}`);

const limitsArb = fc.record({ maxStanzaBytes: fc.oneof(fc.integer({ min: 20, max: 160 }), fc.constantFrom(1000, 1 << 20)), maxDepth: fc.constantFrom(1, 2, 3, 64) });

describe('the plain fast path', () => {
  test('gives the same events and errors as the XML parser, for random streams split anywhere', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 5 }), limitsArb, fc.boolean(), (xml, cuts, limits, release) => {
        const chunks = split(Buffer.from(xml, 'utf8'), cuts);
        const expected = run(chunks, limits, { releaseWhenIdle: release }).events;
        const actual = run(chunks, limits, { releaseWhenIdle: release, plainFastPath: true }).events;
        assert.deepEqual(actual, expected);
      }),
      { numRuns: 1500 },
    );
  });

  test('the same for stanzas written as strings, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(elementArb, fc.constantFrom('\ud800', '\udc00x', '<a>\ud83d</a>', '<a>\ude00</a>')), { maxLength: 5 }), (parts) => {
        const limits = { maxStanzaBytes: 1000, maxDepth: 8 };
        const write = (options: StreamParserOptions) => {
          const events: ParseEvent[] = [];
          const parser = new StreamParser({
            onStreamOpen: (attrs, ns) => events.push({ kind: 'open', attrs: { ...attrs }, ns }),
            onStanza: (stanza) => events.push({ kind: 'stanza', stanza }),
            onStreamClose: () => events.push({ kind: 'close' }),
            onError: (error) => events.push({ kind: 'error', error }),
          }, limits, options);
          parser.write(STREAM_OPEN);
          for (const p of parts) parser.write(p);
          return plainEvents(events);
        };
        assert.deepEqual(write({ plainFastPath: true }), write({}));
      }),
      { numRuns: 500 },
    );
  });

  test("a login's input never builds the XML parser", () => {
    const limits = { maxStanzaBytes: 10_000, maxDepth: 8 };
    const login = [
      STREAM_OPEN,
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWZ5a28rZDJsYmJGZ09OUnY5cWt4ZGF3TA==</auth>",
      "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdzLHI9Znlrbw==</response>",
    ];
    const { parser, events } = run(login.map((s) => Buffer.from(s)), limits, { plainFastPath: true });
    assert.equal(parser.released, true, 'no XML parser state');
    assert.deepEqual(events.slice(0, -1).map((e) => (e as { kind: string }).kind), ['open', 'stanza', 'stanza']);
    const bound = run([STREAM_OPEN, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>", "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq><presence/>\n"].map((s) => Buffer.from(s)), limits, { plainFastPath: true });
    assert.equal(bound.parser.released, true);
    assert.deepEqual(bound.events.slice(1, -1), [
      { kind: 'stanza', ns: 'jabber:client', stanza: { name: 'iq', attrs: { type: 'set', id: 'b' }, children: [{ name: 'bind', attrs: { xmlns: 'urn:ietf:params:xml:ns:xmpp-bind' }, children: [] }] } },
      { kind: 'stanza', ns: 'jabber:client', stanza: { name: 'iq', attrs: { type: 'get', id: 'r' }, children: [{ name: 'query', attrs: { xmlns: 'jabber:iq:roster' }, children: [] }] } },
      { kind: 'stanza', ns: 'jabber:client', stanza: { name: 'presence', attrs: {}, children: [] } },
    ]);
  });

  test('the stanza size limit counts the whitespace before a stanza and holds to the byte on both paths', () => {
    // Longer than the stream header, which the same limit applies to.
    const stanza = `<message to='a@b'><body>h€llo ${'x'.repeat(200)}</body></message>`;
    const bytes = Buffer.byteLength(stanza);
    for (const before of ['', '  \n']) {
      for (const [limit, ok] of [[bytes + before.length, true], [bytes + before.length - 1, false]] as const) {
        for (const options of [{}, { plainFastPath: true }, { plainFastPath: true, releaseWhenIdle: true }]) {
          const { events } = run([Buffer.from(STREAM_OPEN), Buffer.from(before), Buffer.from(stanza)], { maxStanzaBytes: limit, maxDepth: 8 }, options);
          const kinds = (events.slice(0, -1) as { kind: string }[]).map((e) => e.kind);
          assert.deepEqual(kinds, ok ? ['open', 'stanza'] : ['open', 'error'], `${JSON.stringify(before)} ${limit} ${JSON.stringify(options)}`);
        }
      }
    }
  });

  test('scanStreamHeader reads the usual header and leaves odd ones to the parser', () => {
    const h = scanStreamHeader(`${STREAM_OPEN}<iq/>`);
    assert.equal(h?.end, STREAM_OPEN.length);
    assert.equal(h?.defaultNs, 'jabber:client');
    assert.equal(h?.attrs['xmlns:stream'], STREAM_NS);
    assert.equal(scanStreamHeader(STREAM_OPEN.slice(0, -1)), undefined, 'incomplete');
    assert.equal(scanStreamHeader("<stream:stream xmlns:stream='urn:other'>"), undefined);
    assert.equal(scanStreamHeader("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='y'>"), undefined);
  });

  test('scanStanza leaves markup it does not read to the parser', () => {
    for (const odd of ['<a>&amp;</a>', '<a><!-- c --></a>', "<a b='1' b='2'/>", '<a>x\r\n</a>', '<p:a/>', '<a></b>', "<a xmlns=''/>", '<a>]]></a>', '<a', '<a/'] as const) {
      assert.equal(scanStanza(odd, 0, 'jabber:client', 8), undefined, odd);
    }
    const s = scanStanza(" <a x='1'><b>t€</b></a>", 0, 'jabber:client', 8);
    assert.equal(s?.bytes, 25);
    assert.equal(s?.element.getChild('b')?.ns, 'jabber:client');
  });
});
