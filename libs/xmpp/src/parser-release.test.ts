import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { incompleteTail, StreamParser, type StreamParserLimits } from './parser.js';
import { STREAM_OPEN, plainEvents, type ParseEvent } from './testing-helpers.js';

const LIMITS: StreamParserLimits = { maxStanzaBytes: 1000, maxDepth: 8 };

function releasing(limits = LIMITS): { parser: StreamParser; events: ParseEvent[] } {
  const events: ParseEvent[] = [];
  const parser = new StreamParser(
    {
      onStreamOpen: (attrs, ns) => events.push({ kind: 'open', attrs, ns }),
      onStanza: (stanza) => events.push({ kind: 'stanza', stanza }),
      onStreamClose: () => events.push({ kind: 'close' }),
      onError: (error) => events.push({ kind: 'error', error }),
    },
    limits,
    { releaseWhenIdle: true },
  );
  return { parser, events };
}

describe('StreamParser releaseWhenIdle', () => {
  test('is released after the header and after each complete stanza, not inside one', () => {
    const { parser, events } = releasing();
    assert.equal(parser.released, false);
    parser.write(STREAM_OPEN);
    assert.equal(parser.released, true);
    parser.write("<message to='a@b'><bo");
    assert.equal(parser.released, false);
    parser.write('dy>hi</body></message>  \n');
    assert.equal(parser.released, true);
    parser.write("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>");
    assert.equal(parser.released, true);
    assert.deepEqual(events.map((e) => e.kind), ['open', 'stanza', 'stanza']);
    assert.equal(events[1]?.kind === 'stanza' && events[1].stanza.getChildText('body'), 'hi');
  });

  test('prefixes and the default namespace declared on the header still apply after a release', () => {
    const { parser, events } = releasing();
    parser.write("<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' xmlns:x='urn:x'>");
    assert.equal(parser.released, true);
    parser.write('<x:thing/><presence/>');
    const [, thing, presence] = events;
    assert.equal(thing?.kind === 'stanza' && thing.stanza.ns, 'urn:x');
    assert.equal(presence?.kind === 'stanza' && presence.stanza.ns, 'jabber:client');
    parser.write('</s:stream>');
    assert.equal(events.at(-1)?.kind, 'close');
  });

  test('a wrong end tag for the root after a release is still an error', () => {
    const { parser, events } = releasing();
    parser.write(STREAM_OPEN);
    parser.write('</stream:other>');
    assert.equal(events.at(-1)?.kind, 'error');
    assert.equal(parser.closed, true);
  });

  test('a UTF-8 sequence split across writes holds the parser until it completes', () => {
    const { parser, events } = releasing();
    parser.write(STREAM_OPEN);
    const bytes = Buffer.from('<message><body>€</body></message>', 'utf8');
    const cut = bytes.indexOf(0xe2) + 1;
    parser.write(bytes.subarray(0, cut));
    parser.write(bytes.subarray(cut));
    assert.equal(events[1]?.kind === 'stanza' && events[1].stanza.getChildText('body'), '€');
    assert.equal(parser.released, true);
  });

  test('whitespace keepalives written one at a time still count against the limit', () => {
    const { parser, events } = releasing({ maxStanzaBytes: 200, maxDepth: 8 });
    parser.write(STREAM_OPEN);
    for (let i = 0; i < 200; i++) parser.write(' ');
    assert.deepEqual(events.map((e) => e.kind), ['open']);
    parser.write(' ');
    const last = events.at(-1);
    assert.equal(last?.kind === 'error' && last.error.condition, 'policy-violation');
  });

  test('whitespace keepalives before a stanza are allowed and the budget restarts after it', () => {
    const { parser, events } = releasing({ maxStanzaBytes: 200, maxDepth: 8 });
    parser.write(STREAM_OPEN);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 150; i++) parser.write(' ');
      parser.write('<presence/>');
      assert.equal(parser.released, true);
    }
    assert.deepEqual(events.map((e) => e.kind), ['open', 'stanza', 'stanza', 'stanza', 'stanza', 'stanza']);
  });

  test('random chunkings give the same events as a parser that is never released', () => {
    const stream =
      STREAM_OPEN +
      " \n<message to='j@e/b'><body>Ça 😀 &amp; <![CDATA[<x>]]></body></message>  " +
      "<iq type='get' id='r1'><q:query xmlns:q='jabber:iq:roster'/></iq>\t<presence><priority>5</priority></presence>" +
      '</stream:stream>';
    const bytes = Buffer.from(stream, 'utf8');
    const kept: ParseEvent[] = [];
    const reference = new StreamParser(
      {
        onStreamOpen: (attrs, ns) => kept.push({ kind: 'open', attrs, ns }),
        onStanza: (stanza) => kept.push({ kind: 'stanza', stanza }),
        onStreamClose: () => kept.push({ kind: 'close' }),
        onError: (error) => kept.push({ kind: 'error', error }),
      },
      LIMITS,
    );
    reference.write(bytes);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 30 }), fc.boolean(), (cuts, asText) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const { parser, events } = releasing();
        for (let i = 1; i < points.length; i++) {
          const piece = bytes.subarray(points[i - 1], points[i]);
          // Text pieces only where the cut falls between characters.
          parser.write(asText && Buffer.from(piece.toString('utf8'), 'utf8').equals(piece) ? piece.toString('utf8') : piece);
        }
        assert.deepEqual(plainEvents(events), plainEvents(kept));
      }),
      { numRuns: 300 },
    );
  });
});

describe('incompleteTail', () => {
  const at = (...b: number[]) => incompleteTail(Uint8Array.from(b));
  test('complete input has no tail', () => {
    assert.equal(at(), 0);
    assert.equal(at(0x41), 1);
    assert.equal(at(0xc3, 0xa9), 2);
    assert.equal(at(0xe2, 0x82, 0xac), 3);
    assert.equal(at(0xf0, 0x9f, 0x98, 0x80), 4);
  });
  test('a well-formed beginning is held back', () => {
    assert.equal(at(0x41, 0xc3), 1);
    assert.equal(at(0x41, 0xe2, 0x82), 1);
    assert.equal(at(0xf0, 0x9f, 0x98), 0);
  });
  test('an ill-formed beginning is left in for validation to refuse', () => {
    assert.equal(at(0x41, 0xc0), 2); // C0 never begins a sequence (overlong)
    assert.equal(at(0x41, 0xe0, 0x80), 3); // overlong 3-byte form
    assert.equal(at(0x41, 0xed, 0xa0), 3); // a surrogate
    assert.equal(at(0x41, 0xf4, 0x90), 3); // beyond U+10FFFF
    assert.equal(at(0x41, 0xf5), 2);
    assert.equal(at(0x80, 0x80, 0x80, 0x80), 4); // continuation bytes alone
  });
});
