import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, clientStreamHeader, is } from '@vigil/testkit';

// Bad input gets a clear, specific answer and disturbs no one else.
const DEADLINE_MS = 10_000;

describe('bad input on a client stream', () => {
  let cluster: Cluster;
  let bystander: TestClient;
  let port: number;

  before(async () => {
    cluster = await Cluster.start({ nodes: 1 });
    await cluster.provision([{ username: 'dave', password: 'dave-secret' }]);
    port = cluster.node(0).port;
    bystander = await TestClient.connect({ port, domain: cluster.domain, username: 'dave', password: 'dave-secret', resource: 'watch' });
    await bystander.sendPresence();
  });

  after(async () => {
    await bystander?.stop();
    await cluster?.stop();
  });

  test('malformed XML ends the stream with <not-well-formed/> and closes the socket', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<stream:features>/, DEADLINE_MS);
    raw.send('<iq type="get" id="1"><query></iq>');
    await raw.waitFor(/<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
    assert.match(raw.received, /<\/stream:stream>$/);
  });

  test('a DOCTYPE is refused with <restricted-xml/>, never expanded', async () => {
    const raw = await RawConnection.open(port);
    raw.send(`<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol "lol">]>`);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a stream to a domain this server does not serve gets <host-unknown/>', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader('example.org'));
    const out = await raw.waitFor(/<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    // RFC 6120 §4.9.1.2: the server opens its own stream before the error.
    assert.match(out, /^<\?xml version='1.0'\?><stream:stream /);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a wrong password gets SASL <not-authorized/>', async () => {
    await assert.rejects(
      TestClient.connect({ port, domain: cluster.domain, username: 'dave', password: 'wrong', resource: 'x' }),
      (e: unknown) => e instanceof Error && /not-authorized/.test(`${e.message} ${(e as { condition?: string }).condition ?? ''}`),
    );
  });

  test('an unknown user gets the same <not-authorized/> as a wrong password', async () => {
    await assert.rejects(
      TestClient.connect({ port, domain: cluster.domain, username: 'nobody', password: 'x', resource: 'x' }),
      (e: unknown) => e instanceof Error && /not-authorized/.test(`${e.message} ${(e as { condition?: string }).condition ?? ''}`),
    );
  });

  test('a stanza before authentication ends the stream with <not-authorized/>', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<stream:features>/, DEADLINE_MS);
    raw.send(`<message to='dave@localhost'><body>spam</body></message>`);
    await raw.waitFor(/<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('an oversized stanza before authentication is cut off with <policy-violation/>', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<stream:features>/, DEADLINE_MS);
    raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${'A'.repeat(64 * 1024)}`);
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('none of it disturbed the session that was already there', async () => {
    assert.equal(bystander.xmpp.status, 'online');
    const mark = bystander.mark();
    await bystander.sendPresence({}, );
    await bystander.expectStanza(is.presenceFrom(bystander.jid), DEADLINE_MS, 'its own presence echo', mark);
    assert.deepEqual(bystander.errors, []);
  });
});
