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
