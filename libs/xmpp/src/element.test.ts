import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Element, el, escapeAttr, escapeText, type XmlNode } from './element.js';
import { STREAM_OPEN, parseChunks, plain } from './testing-helpers.js';

describe('Element', () => {
  test('serialises attributes in single quotes with &, <, >, ", \' escaped', () => {
    const element = el('x', { a: `&<>"'` });
    assert.equal(element.toString(), `<x a='&amp;&lt;&gt;&quot;&apos;'/>`);
  });

  test('serialises text with &, < and > escaped and leaves quotes alone', () => {
    assert.equal(el('b', {}, `a&b<c>d"e'f`).toString(), `<b>a&amp;b&lt;c&gt;d"e'f</b>`);
  });

  test('escapes characters a parser would otherwise normalise away', () => {
    assert.equal(escapeText('a\r\nb'), 'a&#xD;\nb');
    assert.equal(escapeAttr('a\tb\nc\rd'), 'a&#x9;b&#xA;c&#xD;d');
  });

  test('text with nothing to escape comes back as it was; anything else is escaped character by character', () => {
    for (const s of ['', 'alice@example.com/phone', 'caf\u00e9 \u2028 x']) {
      assert.equal(escapeAttr(s), s);
      assert.equal(escapeText(s), s);
    }
    const attr: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#x9;', '\n': '&#xA;', '\r': '&#xD;' };
    const text: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };
    const unit = fc.oneof(fc.constantFrom(...Object.keys(attr)), fc.string({ maxLength: 1 }));
    fc.assert(fc.property(fc.array(unit, { maxLength: 12 }), (chars) => {
      const s = chars.join('');
      assert.equal(escapeAttr(s), [...s].map((c) => attr[c] ?? c).join(''));
      assert.equal(escapeText(s), [...s].map((c) => text[c] ?? c).join(''));
    }));
  });

  test('writes an element without children as self-closing', () => {
    assert.equal(new Element('presence').toString(), '<presence/>');
    assert.equal(el('iq', { type: 'get' }, el('ping', { xmlns: 'urn:xmpp:ping' })).toString(),
      `<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>`);
  });

  test('el() drops undefined attributes and falsy children', () => {
    const element = el('m', { to: 'a@b', from: undefined }, undefined, null, false, '', 'hi', el('x'));
    assert.deepEqual(element.attrs, { to: 'a@b' });
    assert.equal(element.children.length, 2);
    assert.equal(element.toString(), `<m to='a@b'>hi<x/></m>`);
  });

  test('finds direct children by name and namespace, and reads their text', () => {
    const iq = el('iq', { type: 'set' },
      el('query', { xmlns: 'jabber:iq:roster' }, el('item', { jid: 'a@b' }), el('item', { jid: 'c@d' })),
      el('query', { xmlns: 'urn:other' }, 'other'));
    assert.equal(iq.getChild('query')?.attr('xmlns'), 'jabber:iq:roster');
    assert.equal(iq.getChild('query', 'urn:other')?.getText(), 'other');
    assert.equal(iq.getChild('query', 'urn:missing'), undefined);
    assert.equal(iq.getChildren('query').length, 2);
    assert.equal(iq.getChildText('query', 'urn:other'), 'other');
    assert.equal(iq.getChildText('nothing'), undefined);
    // Built children without xmlns inherit the parent's namespace, as parsed ones do.
    assert.equal(iq.getChild('query')?.getChildren('item', 'jabber:iq:roster').length, 2);
  });

  test('getText concatenates only direct text children', () => {
    const element = el('body', {}, 'a', el('b', {}, 'ignored'), 'c');
    assert.equal(element.getText(), 'ac');
    assert.deepEqual(element.getChildElements().map((c) => c.name), ['b']);
  });

  test('matches a prefixed child by its local name', () => {
    const features = el('stream:features', {}, el('stream:error', {}));
    assert.equal(features.getChild('error')?.name, 'stream:error');
  });

  test('attr() never returns inherited Object properties', () => {
    const element = el('x', {});
    assert.equal(element.attr('constructor'), undefined);
    assert.equal(element.attr('toString'), undefined);
  });

  test('ns of a built element is its xmlns attribute or empty', () => {
    assert.equal(el('x', { xmlns: 'urn:a' }).ns, 'urn:a');
    assert.equal(el('x').ns, '');
  });
});

// Any character XML 1.0 allows (§2.2), with the markup-significant ones made likely.
const xmlChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('&', '<', '>', '"', "'", ']]>', '\t', '\n', '\r', ' ', 'é', '😀') },
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0xd7ff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const xmlString = fc.string({ unit: xmlChar, maxLength: 12 });
const names = fc.constantFrom('a', 'body', 'x-y', 'q_1', 'message', 'n.o');
const attrs = fc.dictionary(fc.constantFrom('id', 'to', 'type', 'x', 'xml:lang', 'data-1'), xmlString, { maxKeys: 3 });

const elementArb: fc.Arbitrary<Element> = fc.letrec<{ element: Element; node: XmlNode }>((tie) => ({
  element: fc
    .tuple(names, attrs, fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' }))
    .map(([name, a, children]) => el(name, a, ...children)),
  node: fc.oneof({ depthSize: 'small', depthIdentifier: 'tree' }, xmlString, tie('element')),
})).element;

describe('Element serialisation round-trip', () => {
  test('serialising any element and parsing it inside a stream gives an equal element', () => {
    fc.assert(
      fc.property(elementArb, (element) => {
        const recorder = parseChunks([STREAM_OPEN, element.toString()]);
        assert.deepEqual(recorder.errors(), []);
        const [parsed] = recorder.stanzas();
        assert.ok(parsed);
        assert.deepEqual(plain(parsed), plain(element));
        assert.equal(parsed.toString(), element.toString());
      }),
      { numRuns: 300 },
    );
  });
});
