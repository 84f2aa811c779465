import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStanza } from '@vigil/xmpp';
import type { cluster } from '@vigil/proto';
import { typedIq } from './iq.js';

// A typed roster get stands for exactly the stanza the node received and
// stamped, so the owner answers it with the same code as the XML form.
const session: cluster.SessionRef = { sessionId: 's1', fullJid: 'alice@localhost/phone', nodeId: 'n1', incarnation: 'i1' };

function same(typed: cluster.RosterGet, xml: string): void {
  const built = typedIq({ session, stanzaXml: '', typed: { $case: 'rosterGet', rosterGet: typed } });
  assert.ok(built !== undefined);
  const parsed = parseStanza(xml);
  assert.equal(built.name, parsed.name);
  // The parsed stanza carries its stream's default namespace as xmlns; the answer never reads it.
  const { xmlns: _ns, ...parsedAttrs } = parsed.attrs;
  assert.deepEqual({ ...built.attrs }, parsedAttrs);
  const [bq, pq] = [built.getChildElements(), parsed.getChildElements()];
  assert.equal(bq.length, 1);
  assert.equal(bq[0]?.ns, pq[0]?.ns);
  assert.deepEqual({ ...bq[0]?.attrs }, { ...pq[0]?.attrs });
}

test('a typed roster get without ver is the plain get', () => {
  same({ iqId: 'r1', to: '', ver: '', hasVer: false }, "<iq xmlns='jabber:client' type='get' id='r1' from='alice@localhost/phone'><query xmlns='jabber:iq:roster'/></iq>");
});

test('a typed roster get keeps its ver, an empty ver included, and a to the client wrote', () => {
  same({ iqId: 'r2', to: 'alice@localhost', ver: '17', hasVer: true }, "<iq xmlns='jabber:client' type='get' id='r2' from='alice@localhost/phone' to='alice@localhost'><query xmlns='jabber:iq:roster' ver='17'/></iq>");
  same({ iqId: 'r3', to: '', ver: '', hasVer: true }, "<iq xmlns='jabber:client' type='get' id='r3' from='alice@localhost/phone'><query xmlns='jabber:iq:roster' ver=''/></iq>");
});

test('an XML request or a block-list request has no iq element to stand for', () => {
  assert.equal(typedIq({ session, stanzaXml: '<iq/>', typed: undefined }), undefined);
  assert.equal(typedIq({ session, stanzaXml: '', typed: { $case: 'blockListGet', blockListGet: {} } }), undefined);
});

test('a typed roster get that also carries its XML (for older authorities) is answered from the typed form', () => {
  const built = typedIq({
    session,
    stanzaXml: "<iq type='get' id='from-xml' from='alice@localhost/phone'><query xmlns='jabber:iq:roster' ver='9'/></iq>",
    typed: { $case: 'rosterGet', rosterGet: { iqId: 'from-typed', to: '', ver: '', hasVer: false } },
  });
  assert.equal(built?.attr('id'), 'from-typed');
  assert.equal(built?.getChildElements()[0]?.attr('ver'), undefined);
});
