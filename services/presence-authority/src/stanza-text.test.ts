import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainOf, localpartOf, unavailableFrom, withTo } from './stanza-text.js';

test('withTo addresses a stanza without touching the rest', () => {
  assert.equal(withTo("<presence from='a@x/r'><show>away</show></presence>", 'b@x'), "<presence to='b@x' from='a@x/r'><show>away</show></presence>");
  assert.equal(withTo('<presence/>', "o'k@x"), "<presence to='o&apos;k@x'/>");
  assert.throws(() => withTo(' <presence/>', 'b@x'), TypeError);
});

test('the generated unavailable names the full JID and escapes it', () => {
  assert.equal(unavailableFrom('a@x/r&d'), "<presence from='a@x/r&amp;d' type='unavailable'/>");
});

test('JID parts of already-normalized JIDs', () => {
  assert.equal(localpartOf('alice@localhost'), 'alice');
  assert.equal(domainOf('alice@localhost/with@sign'), 'localhost');
  assert.equal(domainOf('localhost'), 'localhost');
});
