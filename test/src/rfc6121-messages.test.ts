import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TestClient, errorCondition, is, xml, type Stanza } from '@vigil/testkit';

// RFC 6121 §8.5 message routing across connection nodes, through @xmpp/client:
// full and bare JIDs, the fallback from a vanished resource to the bare JID,
// service-unavailable when nobody can take the message (no offline storage),
// iq to an absent resource, and XEP-0191 blocked senders.
const DEADLINE_MS = 10_000;

describe('messages (RFC 6121 §8)', () => {
  let cluster: Cluster;
  const clients: TestClient[] = [];
  const connect = async (node: number, username: string, resource: string) => {
    const c = await TestClient.connect({ port: cluster.node(node).port, domain: 'localhost', username, password: 'pw', resource });
    clients.push(c);
    return c;
  };
  const online = async (c: TestClient, ...children: Stanza[]) => {
    const m = c.mark();
    await c.sendPresence({}, ...children);
    await c.expectStanza(is.presenceFrom(c.jid), DEADLINE_MS, 'own presence echo', m);
  };
  const messageWithId = (id: string) => (s: Stanza) => s.name === 'message' && s.attrs.id === id;
  const errorWithId = (id: string) => (s: Stanza) => s.name === 'message' && s.attrs.id === id && s.attrs.type === 'error';

  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2 });
    await cluster.provision(['alice', 'bob', 'carol', 'mallory'].map((username) => ({ username, password: 'pw' })), []);
    alice = await connect(0, 'alice', 'desk');
    bob = await connect(1, 'bob', 'laptop');
    await online(alice);
    await online(bob);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test('a chat message to a full JID on the other node arrives stamped with the full sender JID', async () => {
    await alice.send(xml('message', { to: bob.jid, type: 'chat', id: 'full-1' }, xml('body', {}, 'hello bob')));
    const got = await bob.expectStanza(messageWithId('full-1'), DEADLINE_MS, 'the message');
    assert.equal(got.attrs.from, alice.jid);
    assert.equal(got.attrs.to, bob.jid);
    assert.equal(got.getChildText('body'), 'hello bob');
  });

  test('a message to a bare JID is addressed to each receiving resource by its full JID', async () => {
    await bob.send(xml('message', { to: 'alice@localhost', type: 'chat', id: 'bare-1' }, xml('body', {}, 'hi')));
    const got = await alice.expectStanza(messageWithId('bare-1'), DEADLINE_MS, 'the message');
    assert.equal(got.attrs.to, alice.jid);
    assert.equal(got.attrs.from, bob.jid);
  });

  test('a user with no session at all: the sender gets service-unavailable back (§8.5.2.2.1, no offline storage)', async () => {
    const m = alice.mark();
    await alice.send(xml('message', { to: 'carol@localhost', type: 'chat', id: 'off-1' }, xml('body', {}, 'are you there?')));
    const err = await alice.expectStanza(errorWithId('off-1'), DEADLINE_MS, 'the error', m);
    assert.equal(errorCondition(err), 'service-unavailable');
    assert.equal(err.attrs.from, 'carol@localhost');
    assert.equal(err.attrs.to, alice.jid);
  });

  test('an account that does not exist answers the same way (§8.5.1)', async () => {
    const m = alice.mark();
    await alice.send(xml('message', { to: 'nobody@localhost', id: 'none-1' }, xml('body', {}, 'x')));
    assert.equal(errorCondition(await alice.expectStanza(errorWithId('none-1'), DEADLINE_MS, 'the error', m)), 'service-unavailable');
  });

  test('connected but not available, or only negative priority: still service-unavailable for a bare JID', async () => {
    const shy = await connect(1, 'carol', 'shy'); // bound, no initial presence
    const low = await connect(0, 'carol', 'low');
    await online(low, xml('priority', {}, '-1'));
    const m = alice.mark();
    await alice.send(xml('message', { to: 'carol@localhost', type: 'chat', id: 'neg-1' }, xml('body', {}, 'x')));
    assert.equal(errorCondition(await alice.expectStanza(errorWithId('neg-1'), DEADLINE_MS, 'the error', m)), 'service-unavailable');
    // A full JID reaches a connected resource whatever its presence (§8.5.3.1).
    await alice.send(xml('message', { to: shy.jid, type: 'chat', id: 'neg-2' }, xml('body', {}, 'psst')));
    await shy.expectStanza(messageWithId('neg-2'), DEADLINE_MS, 'the message to the full JID');
    assert.equal(low.received.filter(messageWithId('neg-1')).length, 0);
    await Promise.all([shy.stop(), low.stop()]);
  });

  test('a full JID whose resource is gone falls back to the bare JID for chat (§8.5.3.2.1)', async () => {
    await bob.send(xml('message', { to: 'alice@localhost/gone', type: 'chat', id: 'fb-1' }, xml('body', {}, 'still there?')));
    const got = await alice.expectStanza(messageWithId('fb-1'), DEADLINE_MS, 'the message via the bare JID');
    assert.equal(got.attrs.to, alice.jid);
  });

  test('a headline nobody can take is dropped silently; a groupchat to a gone resource bounces', async () => {
    const m = alice.mark();
    await alice.send(xml('message', { to: 'carol@localhost', type: 'headline', id: 'hl-1' }, xml('body', {}, 'news')));
    await alice.send(xml('message', { to: 'bob@localhost/gone', type: 'groupchat', id: 'gc-1' }, xml('body', {}, 'room')));
    // The groupchat error comes after the headline's verdict would have; no error for the headline.
    assert.equal(errorCondition(await alice.expectStanza(errorWithId('gc-1'), DEADLINE_MS, 'the groupchat error', m)), 'service-unavailable');
    assert.equal(bob.received.filter(messageWithId('gc-1')).length, 0);
    const hl = await alice.request(xml('iq', { type: 'get', to: 'localhost', id: 'sync-1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(hl.attrs.type, 'result');
    assert.deepEqual(alice.received.slice(m.index).filter(errorWithId('hl-1')).map(String), []);
  });

  test('an iq to a resource that is not connected is answered service-unavailable; to one that is, it arrives', async () => {
    const reply = await alice.request(xml('iq', { type: 'get', to: 'bob@localhost/gone', id: 'iq-1' }, xml('query', { xmlns: 'jabber:iq:version' })));
    assert.equal(reply.attrs.type, 'error');
    assert.equal(errorCondition(reply), 'service-unavailable');
    const b = bob.mark();
    await alice.send(xml('iq', { type: 'get', to: bob.jid, id: 'iq-2' }, xml('query', { xmlns: 'jabber:iq:version' })));
    const got = await bob.expectStanza((s) => s.name === 'iq' && s.attrs.id === 'iq-2', DEADLINE_MS, 'the iq', b);
    assert.equal(got.attrs.from, alice.jid);
  });

  test('a blocked sender gets service-unavailable and the message never arrives (XEP-0191 §3.5)', async () => {
    const mallory = await connect(0, 'mallory', 'x');
    await online(mallory);
    const blocked = await bob.request(xml('iq', { type: 'set', id: 'blk-1' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'mallory@localhost' }))));
    assert.equal(blocked.attrs.type, 'result');
    const b = bob.mark();
    const m = mallory.mark();
    await mallory.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'spam-1' }, xml('body', {}, 'buy now')));
    assert.equal(errorCondition(await mallory.expectStanza(errorWithId('spam-1'), DEADLINE_MS, 'the error', m)), 'service-unavailable');
    // alice's message sent after mallory's arrives; mallory's never did.
    await alice.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'after-spam' }, xml('body', {}, 'hi')));
    await bob.expectStanza(messageWithId('after-spam'), DEADLINE_MS, "alice's later message", b);
    assert.deepEqual(bob.received.slice(b.index).filter(messageWithId('spam-1')).map(String), []);
  });

  test('service discovery (XEP-0030) lists what the server implements; version (XEP-0092) names it', async () => {
    const info = await alice.request(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.equal(info.attrs.type, 'result');
    const query = info.getChild('query', 'http://jabber.org/protocol/disco#info');
    assert.deepEqual(query?.getChildren('identity').map((i) => [i.attrs.category, i.attrs.type]), [['server', 'im']]);
    const features = new Set(query?.getChildren('feature').map((f) => f.attrs.var));
    for (const f of ['http://jabber.org/protocol/disco#info', 'urn:xmpp:ping', 'jabber:iq:roster', 'urn:xmpp:blocking', 'jabber:iq:version', 'jabber:iq:last']) {
      assert.ok(features.has(f), `missing ${f}`);
    }
    const version = await alice.request(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:version' })));
    assert.equal(version.getChild('query', 'jabber:iq:version')?.getChildText('name'), 'Vigil');
    const own = await alice.request(xml('iq', { type: 'get', to: 'alice@localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.deepEqual(own.getChild('query')?.getChildren('identity').map((i) => [i.attrs.category, i.attrs.type]), [['account', 'registered']]);
    const other = await alice.request(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.equal(errorCondition(other), 'service-unavailable');
  });
});
