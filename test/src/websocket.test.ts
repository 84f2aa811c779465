import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cluster, NS_FRAMING, RawWebSocket, TestClient, WebSocketRefusedError, clientOpenFrame, is, mutualContacts } from '@vigil/testkit';

// XMPP over WebSocket (RFC 7395): the same streams as TCP, framed one element per message.
const DEADLINE_MS = 10_000;
const DOMAIN = 'localhost';
const STREAM_ERROR = (condition: string) =>
  new RegExp(`^<stream:error xmlns:stream='http://etherx.jabber.org/streams'><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>`);
const CLOSE = new RegExp(`^<close xmlns='${NS_FRAMING}'/>$`);

describe('XMPP over WebSocket', () => {
  let cluster: Cluster;
  let wsUrl: string;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, webSocket: true });
    await cluster.provision(
      [{ username: 'alice', password: 'alice-pw' }, { username: 'bob', password: 'bob-pw' }],
      mutualContacts('alice', 'bob'),
    );
    wsUrl = cluster.node(0).wsUrl ?? '';
  });

  after(async () => {
    await cluster?.stop();
  });

  /** An RFC 7395 stream opened by hand up to the first features. */
  async function openedRaw(): Promise<RawWebSocket> {
    const raw = await RawWebSocket.open(wsUrl);
    raw.send(clientOpenFrame(DOMAIN));
    await raw.waitFor(/^<stream:features /, DEADLINE_MS);
    return raw;
  }

  test('a WebSocket client and a TCP client on another node see each other come and go', async () => {
    const alice = await TestClient.connect({ service: wsUrl, domain: DOMAIN, username: 'alice', password: 'alice-pw', resource: 'browser' });
    const bob = await TestClient.connect({ port: cluster.node(1).port, domain: DOMAIN, username: 'bob', password: 'bob-pw', resource: 'desk' });
    try {
      assert.equal(alice.tls, undefined, 'plain ws on loopback');
      await bob.sendPresence();
      await alice.sendPresence();
      // Alice's broadcast reaches bob; bob's presence reaches alice as the answer to her probe (RFC 6121 §4.2).
      await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice (WebSocket, node 1) available');
      const fromBob = await alice.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, 'bob (TCP, node 2) available');
      // RFC 7395 §3.3.3: each message declares its namespace; bob's client sent none over TCP.
      assert.equal(fromBob.attrs.xmlns, 'jabber:client');
      const mark = bob.mark();
      alice.crash();
      await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'alice unavailable after her WebSocket died', mark);
    } finally {
      await alice.stop();
      await bob.stop();
    }
  });

  test('a graceful <close/> is answered with <close/> and the WebSocket closes normally', async () => {
    const raw = await openedRaw();
    raw.send(`<close xmlns='${NS_FRAMING}'/>`);
    await raw.waitFor(CLOSE, DEADLINE_MS);
    assert.equal(await raw.waitClosed(DEADLINE_MS), 1000);
  });

  test('the server opens with <open/> and declares the namespaces in every message', async () => {
    const raw = await openedRaw();
    const [open, features] = raw.messages;
    assert.match(open ?? '', new RegExp(`^<open xmlns='${NS_FRAMING}' from='${DOMAIN}' id='[^']+' version='1.0' xml:lang='en'/>$`));
    assert.match(features ?? '', /^<stream:features xmlns:stream='http:\/\/etherx.jabber.org\/streams'>/);
    assert.doesNotMatch(features ?? '', /<mechanism>PLAIN<\/mechanism>/, 'no PLAIN on plain ws');
    assert.doesNotMatch(features ?? '', /starttls/, 'RFC 7395 §3.9: no STARTTLS over WebSocket');
    raw.destroy();
  });

  test('a handshake without the xmpp subprotocol is refused', async () => {
    for (const protocols of [[], ['chat']]) {
      await assert.rejects(RawWebSocket.open(wsUrl, protocols), (e: unknown) => e instanceof WebSocketRefusedError && e.status === 400);
    }
  });

  test('a handshake for another path is refused', async () => {
    await assert.rejects(RawWebSocket.open(wsUrl.replace('/xmpp-websocket', '/other')), (e: unknown) => e instanceof WebSocketRefusedError && e.status === 404);
  });

  test('a message that is not a complete element ends the stream with <not-well-formed/> and <close/>', async () => {
    const raw = await openedRaw();
    raw.send(`<message to='bob@${DOMAIN}'><body>half`);
    await raw.waitFor(STREAM_ERROR('not-well-formed'), DEADLINE_MS);
    await raw.waitFor(CLOSE, DEADLINE_MS);
    assert.equal(await raw.waitClosed(DEADLINE_MS), 1000);
  });

  test('two elements in one message are refused', async () => {
    const raw = await openedRaw();
    raw.send(`<presence/><presence/>`);
    await raw.waitFor(STREAM_ERROR('not-well-formed'), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a message cannot close the stream root it is parsed in', async () => {
    const raw = await openedRaw();
    raw.send(`<presence/></stream:stream>`);
    await raw.waitFor(STREAM_ERROR('not-well-formed'), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a stanza before <open/> is refused with <invalid-namespace/>', async () => {
    const raw = await RawWebSocket.open(wsUrl);
    raw.send(`<presence xmlns='jabber:client'/>`);
    await raw.waitFor(STREAM_ERROR('invalid-namespace'), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a message over the pre-authentication stanza limit gets <policy-violation/>', async () => {
    const raw = await openedRaw();
    raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${'A'.repeat(9000)}</auth>`);
    await raw.waitFor(STREAM_ERROR('policy-violation'), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a DOCTYPE inside a message is refused, never expanded', async () => {
    const raw = await openedRaw();
    raw.send(`<!DOCTYPE x [<!ENTITY a "a">]><presence>&a;</presence>`);
    await raw.waitFor(STREAM_ERROR('not-well-formed'), DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });
});
