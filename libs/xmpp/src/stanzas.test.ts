import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { el, escapeAttr } from './element.js';
import {
  DEFAULT_ERROR_TYPE,
  NS,
  STREAM_CLOSE,
  StanzaError,
  errorReply,
  iqResult,
  saslFailureXml,
  streamErrorXml,
  streamHeader,
  withTo,
} from './stanzas.js';
import { STREAM_OPEN, parseChunks } from './testing-helpers.js';

describe('stream framing', () => {
  test('the stream header declares jabber:client, the stream prefix and version 1.0', () => {
    assert.equal(
      streamHeader({ from: 'example.com', id: 'abc' }),
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
        "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='abc' version='1.0'>",
    );
  });

  test('the stream header escapes attribute values and includes to and xml:lang when given', () => {
    const header = streamHeader({ from: 'ex.com', id: "a'<b", to: 'j@ex.com', lang: 'en' });
    assert.match(header, / id='a&apos;&lt;b' to='j@ex\.com' xml:lang='en' version='1\.0'>$/);
    const recorder = parseChunks([header + STREAM_CLOSE]);
    assert.deepEqual(recorder.events.map((e) => e.kind), ['open', 'close']);
    const open = recorder.events[0];
    assert.equal(open?.kind === 'open' ? open.attrs['id'] : undefined, "a'<b");
  });

  test('a stream error carries the condition in the streams namespace and optional text', () => {
    assert.equal(
      streamErrorXml('host-unknown'),
      "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    const withText = streamErrorXml('policy-violation', 'stanza too big & <ugly>');
    const recorder = parseChunks([STREAM_OPEN, withText]);
    const error = recorder.stanzas()[0];
    assert.equal(error?.ns, NS.stream);
    assert.ok(error?.getChild('policy-violation', NS.streams));
    assert.equal(error?.getChildText('text', NS.streams), 'stanza too big & <ugly>');
    assert.equal(error?.getChild('text')?.attr('xml:lang'), 'en');
  });

  test('a SASL failure names its condition, and refuses names that are not conditions', () => {
    assert.equal(
      saslFailureXml('not-authorized', 'bad <password>'),
      "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>" +
        "<text xml:lang='en'>bad &lt;password&gt;</text></failure>",
    );
    assert.equal(saslFailureXml('aborted'), "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>");
    assert.throws(() => saslFailureXml("x/><evil a='"), RangeError);
  });
});

describe('stanza errors', () => {
  test('every RFC 6120 §8.3.3 condition has a default type', () => {
    assert.equal(Object.keys(DEFAULT_ERROR_TYPE).length, 22);
    assert.equal(DEFAULT_ERROR_TYPE['service-unavailable'], 'cancel');
    assert.equal(DEFAULT_ERROR_TYPE['not-authorized'], 'auth');
    assert.equal(DEFAULT_ERROR_TYPE['bad-request'], 'modify');
    assert.equal(DEFAULT_ERROR_TYPE['resource-constraint'], 'wait');
  });

  test('a StanzaError without a type takes the default type for its condition', () => {
    assert.equal(new StanzaError('item-not-found').type, 'cancel');
    assert.equal(new StanzaError('item-not-found', 'modify').type, 'modify');
  });

  test('an error reply keeps name and id, swaps addresses and carries the condition', () => {
    const iq = el('iq', { type: 'get', id: 'q1', from: 'romeo@example.net/orchard', to: 'juliet@example.com' },
      el('query', { xmlns: NS.roster }));
    const reply = errorReply(iq, new StanzaError('service-unavailable'));
    assert.equal(
      reply.toString(),
      "<iq id='q1' type='error' to='romeo@example.net/orchard' from='juliet@example.com'>" +
        "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
  });

  test('an error reply to a stanza without "to" comes from the server, and includes text', () => {
    const presence = el('presence', { type: 'subscribe', to: undefined });
    const reply = errorReply(presence, new StanzaError('jid-malformed', undefined, 'bad JID'), 'example.com');
    assert.equal(reply.attr('from'), 'example.com');
    assert.equal(reply.attr('to'), undefined);
    assert.equal(reply.attr('id'), undefined);
    const error = reply.getChild('error');
    assert.equal(error?.attr('type'), 'modify');
    assert.ok(error?.getChild('jid-malformed', NS.stanzas));
    assert.equal(error?.getChildText('text', NS.stanzas), 'bad JID');
  });

  test('an IQ result has the same id, swapped addresses and the optional payload', () => {
    const iq = el('iq', { type: 'get', id: 'p1', from: 'a@b/c', to: 'b' }, el('ping', { xmlns: NS.ping }));
    assert.equal(iqResult(iq).toString(), "<iq id='p1' type='result' to='a@b/c' from='b'/>");
    const withPayload = iqResult(el('iq', { id: 'r' }), el('query', { xmlns: NS.roster }));
    assert.equal(withPayload.toString(), "<iq id='r' type='result'><query xmlns='jabber:iq:roster'/></iq>");
  });
});

describe('withTo', () => {
  /** What withTo did with a regular expression before it became a loop: the behaviour to keep. */
  function byRegExp(stanzaXml: string, to: string): string {
    const m = /^<([a-z]+)[\s/>]/.exec(stanzaXml);
    if (!m || m[1] === undefined) throw new TypeError('not a serialized stanza');
    return `<${m[1]} to='${escapeAttr(to)}'${stanzaXml.slice(m[1].length + 1)}`;
  }

  test('writes the address first and leaves the rest of the stanza as it was', () => {
    assert.equal(withTo("<presence from='a@x/r'><show>away</show></presence>", 'b@x'), "<presence to='b@x' from='a@x/r'><show>away</show></presence>");
    assert.equal(withTo('<presence/>', "o'k@x/<r>"), "<presence to='o&apos;k@x/&lt;r&gt;'/>");
    assert.equal(withTo('<message>hi</message>', 'b@x'), "<message to='b@x'>hi</message>");
    assert.equal(withTo("<iq\ttype='get'/>", 'b@x'), "<iq to='b@x'\ttype='get'/>");
  });

  test('refuses what is not a serialized stanza', () => {
    for (const bad of ['', '<', '<presence', ' <presence/>', '<Presence/>', '<pres-ence/>', '<1/>', 'presence/>', '<presence:x/>']) {
      assert.throws(() => withTo(bad, 'b@x'), TypeError, bad);
    }
  });

  test('agrees with the regular expression it replaced on any input', () => {
    const piece = fc.constantFrom('<', '>', '/', ' ', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', 'presence', 'iq', 'a', 'Z', '-', ':', "'", '&', 'é');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }).map((a) => a.join('')), fc.string({ maxLength: 12 }), (xml, to) => {
        let expected: string | Error;
        try {
          expected = byRegExp(xml, to);
        } catch (e) {
          expected = e as Error;
        }
        if (expected instanceof Error) assert.throws(() => withTo(xml, to), TypeError);
        else assert.equal(withTo(xml, to), expected);
      }),
      { numRuns: 2000 },
    );
  });
});
