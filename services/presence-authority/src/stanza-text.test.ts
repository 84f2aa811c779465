import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainOf, lastUnavailableFrom, localpartOf, unavailableFrom, withTo } from './stanza-text.js';

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

test("a probe answer for a contact with no available resource comes from its last resource, with that unavailable's status and time", () => {
  assert.equal(
    lastUnavailableFrom('carol@x', { unixMs: Date.UTC(2026, 10, 30, 12, 0, 1), status: 'gone <fishing>', fullJid: 'carol@x/laptop' }),
    "<presence from='carol@x/laptop' type='unavailable'><status>gone &lt;fishing&gt;</status><delay xmlns='urn:xmpp:delay' stamp='2026-11-30T12:00:01.000Z'/></presence>",
  );
  assert.equal(lastUnavailableFrom('carol@x', { unixMs: 0, status: '', fullJid: 'carol@x/laptop' }), "<presence from='carol@x/laptop' type='unavailable'/>");
});

test('without a known last resource the probe answer comes from the bare JID', () => {
  assert.equal(lastUnavailableFrom('carol@x', undefined), "<presence from='carol@x' type='unavailable'/>");
  assert.equal(lastUnavailableFrom('carol@x', { unixMs: 0, status: '' }), "<presence from='carol@x' type='unavailable'/>");
  // Never another account's resource, nor a lookalike prefix.
  assert.equal(lastUnavailableFrom('carol@x', { unixMs: 0, status: '', fullJid: 'carolyn@x/r' }), "<presence from='carol@x' type='unavailable'/>");
  assert.equal(lastUnavailableFrom('carol@x', { unixMs: 0, status: '', fullJid: 'carol@xy/r' }), "<presence from='carol@x' type='unavailable'/>");
});
