import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStanza, StreamError, el } from './index.js';

test('a serialized stanza parses back with its namespace and children', () => {
  const original = el('iq', { type: 'set', id: 'a1', from: 'a@x/r' }, el('query', { xmlns: 'jabber:iq:roster' }, el('item', { jid: 'b@x' })));
  const parsed = parseStanza(original.toString());
  assert.equal(parsed.name, 'iq');
  assert.equal(parsed.ns, 'jabber:client');
  assert.equal(parsed.getChild('query', 'jabber:iq:roster')?.getChild('item')?.attr('jid'), 'b@x');
  assert.equal(parsed.toString(), original.toString());
});

test('two stanzas, a fragment or a DOCTYPE are refused', () => {
  assert.throws(() => parseStanza('<presence/><presence/>'), StreamError);
  assert.throws(() => parseStanza('<presence>'), StreamError);
  assert.throws(() => parseStanza('<!DOCTYPE x><presence/>'), StreamError);
});

test('successive calls share a parser, and no call is affected by what an earlier one left behind', () => {
  const inputs = [
    "<message to='a@x'><body>1</body></message>",
    '<presence>', // incomplete: refused, and the next call starts clean
    "<iq type='get' id='2'/>",
    'text', // character data: refused
    '  <presence/>  ',
    '</stream:stream>', // closes the shared stream: refused
    "<p:x xmlns:p='urn:p'/>",
    '<a/><b/>', // two: refused
    '<presence><status>ok</status></presence>',
  ];
  const outcomes = inputs.map((xml) => {
    try {
      return parseStanza(xml).toString();
    } catch (e) {
      return e instanceof StreamError ? `error` : `threw ${String(e)}`;
    }
  });
  assert.deepEqual(outcomes, [
    "<message to='a@x'><body>1</body></message>",
    'error',
    "<iq type='get' id='2'/>",
    'error',
    '<presence/>',
    'error',
    "<p:x xmlns:p='urn:p'/>",
    'error',
    '<presence><status>ok</status></presence>',
  ]);
  // The stream's default namespace is still jabber:client after all that.
  assert.equal(parseStanza('<message/>').ns, 'jabber:client');
});

test('a prefix declared in one stanza does not leak into the next', () => {
  parseStanza("<p:x xmlns:p='urn:p'/>");
  assert.throws(() => parseStanza('<p:y/>'), StreamError);
});
