import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, clientStreamHeader, is, rawSession } from '@vigil/testkit';

// Hostile input, each answered with the RFC 6120 error that fits, cutting off
// that connection alone; the session that was already there carries on.
const DEADLINE_MS = 15_000;
const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';

async function opened(port: number): Promise<RawConnection> {
  const raw = await RawConnection.open(port);
  raw.send(clientStreamHeader('localhost'));
  await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
  return raw;
}

const bound = (port: number, username: string, resource: string | undefined) => rawSession(port, username, 'pw', resource, DEADLINE_MS);

async function endsWith(raw: RawConnection, condition: string): Promise<void> {
  await raw.waitFor(new RegExp(`<stream:error><${condition} xmlns='${STREAMS}'/>`), DEADLINE_MS);
  await raw.waitClosed(DEADLINE_MS);
}

describe('hostile input', () => {
  let cluster: Cluster;
  let bystander: TestClient;
  let port: number;
  const raws: RawConnection[] = [];

  before(async () => {
    cluster = await Cluster.start({ nodes: 1, env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_AUTH_TIMEOUT_MS: '3000', VIGIL_MAX_XML_DEPTH: '16' } });
    await cluster.provision(['dave', 'eve'].map((username) => ({ username, password: 'pw' })));
    port = cluster.node(0).port;
    bystander = await TestClient.connect({ port, domain: 'localhost', username: 'dave', password: 'pw', resource: 'watch' });
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bystander?.stop();
    await cluster?.stop();
  });

  test('billion laughs: an internal subset with entities is <restricted-xml/>, nothing expanded', async () => {
    const raw = await RawConnection.open(port);
    raws.push(raw);
    const entities = Array.from({ length: 10 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('');
    raw.send(`<?xml version='1.0'?><!DOCTYPE s [<!ENTITY l0 "lol">${entities}]>${clientStreamHeader('localhost').replace("<?xml version='1.0'?>", '')}&l10;`);
    await endsWith(raw, 'restricted-xml');
  });

  test('a processing instruction inside the stream is <restricted-xml/>', async () => {
    const raw = await opened(port);
    raws.push(raw);
    raw.send(`<?evil payload?>`);
    await endsWith(raw, 'restricted-xml');
  });

  test('nesting deeper than the maximum is <policy-violation/>', async () => {
    const raw = await bound(port, 'eve', 'deep');
    raws.push(raw);
    raw.send(`<message to='dave@localhost'>${'<x>'.repeat(40)}`);
    await endsWith(raw, 'policy-violation');
  });

  test('invalid UTF-8 is <not-well-formed/> (or <bad-format/>)', async () => {
    const raw = await opened(port);
    raws.push(raw);
    raw.send(Buffer.from([0x3c, 0x61, 0x75, 0x74, 0x68, 0x3e, 0xc3, 0x28, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x75, 0x74, 0x68, 0x3e]));
    await raw.waitFor(new RegExp(`<stream:error><(not-well-formed|bad-format) xmlns='${STREAMS}'/>`), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('binary garbage instead of a stream header is <not-well-formed/>', async () => {
    const raw = await RawConnection.open(port);
    raws.push(raw);
    raw.send(Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)));
    await raw.waitFor(new RegExp(`<stream:error><(not-well-formed|bad-format|restricted-xml) xmlns='${STREAMS}'/>`), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a slow-loris client (a byte a second, never authenticating) is cut off with <connection-timeout/>', async () => {
    const raw = await RawConnection.open(port);
    raws.push(raw);
    const header = clientStreamHeader('localhost');
    let i = 0;
    // Bounded: at most the whole header, one byte a second.
    const drip = setInterval(() => {
      if (i < header.length && !raw.isClosed) raw.send(header[i++] ?? '');
    }, 1000);
    try {
      await raw.waitFor(new RegExp(`<connection-timeout xmlns='${STREAMS}'/>`), DEADLINE_MS);
      await raw.waitClosed(DEADLINE_MS);
    } finally {
      clearInterval(drip);
    }
    assert.ok(i < header.length, 'cut off before the header was even complete');
  });

  test('an unclosed stream that goes quiet before authenticating is closed with <connection-timeout/>', async () => {
    const raw = await opened(port);
    raws.push(raw);
    raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`);
    await endsWith(raw, 'connection-timeout');
  });

  test('a JID that fails PRECIS validation is answered <jid-malformed/> and the stream goes on', async () => {
    const raw = await bound(port, 'eve', 'jids');
    raws.push(raw);
    const bad = ['a b@localhost', 'a:b@localhost', 'alice@local host', '@localhost', 'alice@', 'alice@localhost/', `${'x'.repeat(1100)}@localhost`];
    bad.forEach((to, i) => raw.send(`<iq type='get' id='j${i}' to='${to}'><query xmlns='jabber:iq:version'/></iq>`));
    for (let i = 0; i < bad.length; i++) {
      await raw.waitFor(new RegExp(`<iq (?=[^>]*id='j${i}')(?=[^>]*type='error')[^>]*>(?:(?!</iq>).)*<jid-malformed `), DEADLINE_MS);
    }
    raw.send(`<iq type='get' id='ok'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await raw.waitFor(/<iq (?=[^>]*id='ok')(?=[^>]*type='result')/, DEADLINE_MS);
    assert.equal(raw.isClosed, false);
  });

  test('a compatibility character (U+FB01 \'ﬁ\') in a localpart is <jid-malformed/>, and the text names it', async () => {
    const raw = await bound(port, 'eve', 'compat');
    raws.push(raw);
    raw.send(`<message type='chat' id='lig' to='\ufb01le@localhost'><body>hi</body></message>`);
    await raw.waitFor(/<message (?=[^>]*id='lig')(?=[^>]*type='error')[^>]*>(?:(?!<\/message>).)*<jid-malformed (?:(?!<\/message>).)*U\+FB01/, DEADLINE_MS);
    assert.equal(raw.isClosed, false);
  });

  test('a resource with a default-ignorable character (U+200B) is refused at bind with <bad-request/> naming it', async () => {
    const raw = await bound(port, 'eve', undefined);
    raws.push(raw);
    raw.send(`<iq type='set' id='zw'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>lap\u200btop</resource></bind></iq>`);
    await raw.waitFor(/<iq (?=[^>]*id='zw')(?=[^>]*type='error')[^>]*>(?:(?!<\/iq>).)*<bad-request (?:(?!<\/iq>).)*resourcepart contains a default-ignorable (?:(?!<\/iq>).)*U\+200B/, DEADLINE_MS);
    assert.equal(raw.isClosed, false);
  });

  test('none of it disturbed the session that was already there', async () => {
    const m = bystander.mark();
    await bystander.sendPresence();
    await bystander.expectStanza(is.presenceFrom(bystander.jid), DEADLINE_MS, 'own presence', m);
  });
});
