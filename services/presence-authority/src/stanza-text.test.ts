import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainOf, lastUnavailableFrom, lastUnavailables, localpartOf, unavailableFrom, withTo } from './stanza-text.js';

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

test('a restored probe is answered with an unavailable from each remembered resource not available now, each stamped, the last with its status', () => {
  const t = (s: number) => Date.UTC(2026, 10, 30, 12, 0, s);
  const last = { unixMs: t(3), status: 'bye', fullJid: 'carol@x/c', earlierEnds: [{ resource: 'b', unixMs: t(2) }, { resource: 'a', unixMs: t(1) }] };
  const stamp = (s: number) => `<delay xmlns='urn:xmpp:delay' stamp='${new Date(t(s)).toISOString()}'/>`;
  assert.deepEqual(lastUnavailables('carol@x', last, []), [
    `<presence from='carol@x/c' type='unavailable'><status>bye</status>${stamp(3)}</presence>`,
    `<presence from='carol@x/b' type='unavailable'>${stamp(2)}</presence>`,
    `<presence from='carol@x/a' type='unavailable'>${stamp(1)}</presence>`,
  ]);
  // b is back: its presence answers for it.
  assert.deepEqual(lastUnavailables('carol@x', last, ['carol@x/b']).map((x) => /from='([^']*)'/.exec(x)?.[1]), ['carol@x/c', 'carol@x/a']);
});

test('with no remembered resource: the bare JID when nobody is available, else nothing; never another account\'s resources', () => {
  assert.deepEqual(lastUnavailables('carol@x', undefined, []), ["<presence from='carol@x' type='unavailable'/>"]);
  assert.deepEqual(lastUnavailables('carol@x', { unixMs: 0, status: '' }, ['carol@x/a']), []);
  const foreign = { unixMs: 0, status: '', fullJid: 'carolyn@x/r', earlierEnds: [{ resource: 'q', unixMs: 0 }] };
  assert.deepEqual(lastUnavailables('carol@x', foreign, []), ["<presence from='carol@x' type='unavailable'/>"]);
  assert.deepEqual(lastUnavailables('carol@x', foreign, ['carol@x/a']), []);
});
