import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { StreamParser } from './parser.js';
import { STREAM_OPEN, parseChunks, plain, plainEvents, record, PARSER_MODES, setParserOptions } from './testing-helpers.js';

const SAMPLE =
  STREAM_OPEN +
  "<message to='juliet@example.com/balcony' type='chat' xml:lang='fr'>" +
  '<body>Ça va? 日本語 😀 &amp; &lt;tags&gt; &#x263A;<![CDATA[<raw & data>]]></body></message>\n  ' +
  "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>" +
  "<presence><status>Zürich 🏔️</status><priority>5</priority></presence>" +
  "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>" +
  '</stream:stream>';

for (const mode of PARSER_MODES) {
  describe(mode.name, () => {
    before(() => setParserOptions(mode.options));

    describe('StreamParser events', () => {
      test('reports the stream header, each stanza, and the stream close', () => {
        const recorder = parseChunks([SAMPLE]);
        const [open, ...rest] = recorder.events;
        assert.deepEqual(open, {
          kind: 'open',
          ns: 'http://etherx.jabber.org/streams',
          attrs: {
            xmlns: 'jabber:client',
            'xmlns:stream': 'http://etherx.jabber.org/streams',
            to: 'example.com',
            version: '1.0',
          },
        });
        assert.deepEqual(rest.map((e) => e.kind), ['stanza', 'stanza', 'stanza', 'stanza', 'close']);
        assert.equal(recorder.parser.closed, true);
      });

      test('a stanza inheriting the stream namespace has .ns set but no xmlns attribute', () => {
        const [message, iq, , auth] = parseChunks([SAMPLE]).stanzas();
        assert.ok(message && iq && auth);
        assert.equal(message.ns, 'jabber:client');
        assert.equal(message.attr('xmlns'), undefined);
        assert.equal(message.attr('xml:lang'), 'fr');
        assert.equal(message.getChildText('body'), 'Ça va? 日本語 😀 & <tags> ☺<raw & data>');
        assert.equal(message.toString().startsWith("<message to='juliet@example.com/balcony'"), true);
        // Children keep xmlns only where it was written, with the resolved namespace in .ns.
        const query = iq.getChild('query', 'jabber:iq:roster');
        assert.equal(query?.attr('xmlns'), 'jabber:iq:roster');
        assert.equal(query?.attr('ver'), '');
        assert.equal(auth.ns, 'urn:ietf:params:xml:ns:xmpp-sasl');
        assert.equal(auth.attr('xmlns'), 'urn:ietf:params:xml:ns:xmpp-sasl');
      });

      test('resolves prefixed elements and keeps their namespace declarations', () => {
        const recorder = parseChunks([STREAM_OPEN, "<iq><p:q xmlns:p='urn:p'><p:r/></p:q></iq>"]);
        const q = recorder.stanzas()[0]?.getChild('q', 'urn:p');
        assert.equal(q?.name, 'p:q');
        assert.equal(q?.getChild('r', 'urn:p')?.ns, 'urn:p');
        assert.equal(recorder.stanzas()[0]?.toString(), "<iq><p:q xmlns:p='urn:p'><p:r/></p:q></iq>");
      });

      test('whitespace keepalives between stanzas are ignored', () => {
        const recorder = parseChunks([STREAM_OPEN, ' \n\t ', '<presence/>', ' \r\n ', '<presence/>']);
        assert.equal(recorder.stanzas().length, 2);
        assert.deepEqual(recorder.errors(), []);
      });

      test('input after </stream:stream> is ignored', () => {
        const recorder = parseChunks([STREAM_OPEN, '</stream:stream><message/>garbage<', '<!-- more -->']);
        assert.deepEqual(recorder.events.map((e) => e.kind), ['open', 'close']);
      });

      test('a self-closing stream root opens and closes the stream', () => {
        const recorder = parseChunks(["<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"]);
        assert.deepEqual(recorder.events.map((e) => e.kind), ['open', 'close']);
      });

      test('a stanza completed before an unrelated error in the same chunk is still delivered', () => {
        const recorder = parseChunks([`${STREAM_OPEN}<presence/>&bogus;<message/>`]);
        assert.deepEqual(recorder.events.map((e) => e.kind), ['open', 'stanza', 'error']);
        assert.equal(recorder.stanzas()[0]?.name, 'presence');
      });

      test('a large stanza with astral characters on every slice boundary arrives intact', () => {
        const body = `${'a'.repeat(1023)}${'😀'.repeat(3000)}${'é'.repeat(2000)}`;
        const input = `${STREAM_OPEN}<message><body>${body}</body></message>`;
        assert.equal(parseChunks([input]).stanzas()[0]?.getChildText('body'), body);
        assert.equal(parseChunks([Buffer.from(input, 'utf8')]).stanzas()[0]?.getChildText('body'), body);
      });

      test('the parser is open until the stream closes', () => {
        const recorder = record();
        assert.equal(recorder.parser.closed, false);
        recorder.parser.write(`${STREAM_OPEN}<presence/>`);
        assert.equal(recorder.parser.closed, false);
        recorder.parser.write('</stream:stream>');
        assert.equal(recorder.parser.closed, true);
      });

      test('an exception thrown by a handler surfaces from write() and closes the parser', () => {
        const parser = new StreamParser(
          {
            onStreamOpen: () => undefined,
            onStanza: () => {
              throw new RangeError('handler bug');
            },
            onStreamClose: () => undefined,
            onError: () => undefined,
          },
          { maxStanzaBytes: 1000, maxDepth: 5 },
        );
        assert.throws(() => parser.write(`${STREAM_OPEN}<a/><b/>`), RangeError);
        assert.equal(parser.closed, true);
        assert.doesNotThrow(() => parser.write('<c/>'));
      });
    });

    describe('StreamParser chunking', () => {
      const bytes = Buffer.from(SAMPLE, 'utf8');
      const expected = plainEvents(parseChunks([bytes]).events);

      test('splitting the stream in two at every byte offset gives the same events', () => {
        for (let i = 0; i <= bytes.length; i += 1) {
          const events = parseChunks([bytes.subarray(0, i), bytes.subarray(i)]).events;
          assert.deepEqual(plainEvents(events), expected, `split at byte ${i}`);
        }
      });

      test('splitting the bytes into random pieces gives the same events', () => {
        fc.assert(
          fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
            const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
            const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
            assert.deepEqual(plainEvents(parseChunks(chunks).events), expected);
          }),
          { numRuns: 200 },
        );
      });

      test('splitting the decoded string into random pieces, even inside surrogate pairs, gives the same events', () => {
        fc.assert(
          fc.property(fc.uniqueArray(fc.integer({ min: 1, max: SAMPLE.length - 1 }), { maxLength: 40 }), (cuts) => {
            const points = [0, ...cuts.sort((a, b) => a - b), SAMPLE.length];
            const chunks = points.slice(1).map((end, i) => SAMPLE.slice(points[i], end));
            assert.deepEqual(plainEvents(parseChunks(chunks).events), expected);
          }),
          { numRuns: 200 },
        );
      });

      test('a stanza written one byte at a time equals the stanza written at once', () => {
        const oneByOne = [...bytes].map((b) => Buffer.from([b]));
        const parsed = parseChunks(oneByOne).stanzas().map(plain);
        assert.deepEqual(parsed, parseChunks([bytes]).stanzas().map(plain));
      });
    });

    describe('StreamParser refuses restricted and malformed XML', () => {
      const cases: [string, string[], string][] = [
        ['a DOCTYPE before the root', ["<?xml version='1.0'?><!DOCTYPE stream>", STREAM_OPEN.slice(21)], 'restricted-xml'],
        ['an entity declaration', [`<!DOCTYPE s [<!ENTITY lol "lol">]>${STREAM_OPEN.slice(21)}`], 'restricted-xml'],
        ['an undefined entity reference', [STREAM_OPEN, '<message><body>&lol;</body></message>'], 'restricted-xml'],
        ['an external entity reference in an attribute', [STREAM_OPEN, "<message to='&xxe;'/>"], 'restricted-xml'],
        ['a processing instruction', [STREAM_OPEN, "<?xml-stylesheet href='x'?>"], 'restricted-xml'],
        ['a processing instruction inside a stanza', [STREAM_OPEN, '<message><?pi data?></message>'], 'restricted-xml'],
        ['a comment', [STREAM_OPEN, '<!-- hello -->'], 'restricted-xml'],
        ['a comment inside a stanza', [STREAM_OPEN, '<message><!--x--></message>'], 'restricted-xml'],
        ['mismatched stanza tags', [STREAM_OPEN, '<message></presence>'], 'not-well-formed'],
        ['mismatched inner tags', [STREAM_OPEN, '<message><body></message>'], 'not-well-formed'],
        ['a stream closed inside a stanza', [STREAM_OPEN, '<message></stream:stream>'], 'not-well-formed'],
        ['a mismatched stream close', [STREAM_OPEN, '</stream:foo>'], 'not-well-formed'],
        ['a duplicate attribute', [STREAM_OPEN, "<message to='a' to='b'/>"], 'not-well-formed'],
        ['text between stanzas', [STREAM_OPEN, 'hello<presence/>'], 'not-well-formed'],
        ['CDATA between stanzas', [STREAM_OPEN, '<![CDATA[x]]><presence/>'], 'not-well-formed'],
        ['text before the root', ['hello<stream:stream/>'], 'not-well-formed'],
        ['ill-formed UTF-8', [STREAM_OPEN, '\uFFFD'], 'not-well-formed'],
        ['a non-UTF-8 encoding declaration', ["<?xml version='1.0' encoding='ISO-8859-1'?>"], 'unsupported-encoding'],
        ['an unbound prefix', [STREAM_OPEN, '<x:message/>'], 'bad-namespace-prefix'],
        ['a root in the wrong namespace', ["<stream:stream xmlns:stream='urn:wrong'>"], 'invalid-namespace'],
        ['a root with the wrong name', ["<stream:feed xmlns:stream='http://etherx.jabber.org/streams'>"], 'invalid-namespace'],
        ['an unprefixed root', ["<stream xmlns='jabber:client'>"], 'invalid-namespace'],
      ];

      for (const [what, chunks, condition] of cases) {
        test(`${what} is a ${condition} stream error, reported once, without throwing`, () => {
          const recorder = record();
          const input = chunks.map((c) => (c === '\uFFFD' ? Buffer.from([0xc3, 0x28]) : c));
          assert.doesNotThrow(() => {
            for (const chunk of input) recorder.parser.write(chunk);
            recorder.parser.write('<message/></stream:stream>');
          });
          const errors = recorder.errors();
          assert.equal(errors.length, 1);
          assert.equal(errors[0]?.condition, condition);
          assert.equal(recorder.parser.closed, true);
          assert.deepEqual(recorder.stanzas(), []);
          assert.equal(recorder.events.at(-1)?.kind, 'error');
        });
      }

      test('entities are never expanded, even when a DOCTYPE defines them', () => {
        const recorder = parseChunks([
          `<!DOCTYPE s [<!ENTITY a "AAAA"><!ENTITY b "&a;&a;&a;">]>`,
          STREAM_OPEN.slice(21),
          '<message><body>&b;</body></message>',
        ]);
        assert.equal(recorder.errors().length, 1);
        assert.deepEqual(recorder.stanzas(), []);
      });
    });
  });
}
