import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, clientStreamHeader, errorCondition, is, mutualContacts, rawSession, xml } from '@vigil/testkit';

// XEP-0077 in-band registration, as a load generator or a stock client uses it.
const DEADLINE_MS = 10_000;
const register = (id: string, username: string, password: string) =>
  `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${username}</username><password>${password}</password></query></iq>`;

describe('in-band registration (XEP-0077), when enabled', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.start({ nodes: 1, env: { VIGIL_ALLOW_REGISTRATION: 'true', VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true' } });
  });

  after(async () => {
    await cluster?.stop();
  });

  test('the feature is advertised, the form is served, and a new account can log in', async () => {
    const raw = await RawConnection.open(cluster.node(0).port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<register xmlns='http:\/\/jabber.org\/features\/iq-register'\/>/, DEADLINE_MS);
    raw.send(`<iq type='get' id='f1'><query xmlns='jabber:iq:register'/></iq>`);
    await raw.waitFor(/<iq (?=[^>]*id='f1')(?=[^>]*type='result')[^>]*><query xmlns='jabber:iq:register'><instructions>/, DEADLINE_MS);
    raw.send(register('r1', 'newbie', 'correct horse'));
    await raw.waitFor(/<iq (?=[^>]*id='r1')(?=[^>]*type='result')[^>]*\/>/, DEADLINE_MS);
    raw.destroy();
    const client = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'newbie', password: 'correct horse' });
    assert.match(client.jid, /^newbie@localhost\//);
    // XEP-0077 §3.3: a logged-in user changes the password; the new one works next time.
    const changed = await client.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, 'newbie'), xml('password', {}, 'battery staple'))));
    assert.equal(changed.attrs.type, 'result');
    await client.stop();
    const again = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'newbie', password: 'battery staple' });
    await again.stop();
  });

  test('a taken username is a conflict, a bad one is refused, and one connection registers once', async () => {
    const raw = await RawConnection.open(cluster.node(0).port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    raw.send(register('r2', 'newbie', 'whatever'));
    await raw.waitFor(/<iq (?=[^>]*id='r2')(?=[^>]*type='error')[^>]*>.*<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/, DEADLINE_MS);
    raw.send(register('r3', 'bad@name', 'whatever'));
    await raw.waitFor(/<iq (?=[^>]*id='r3')(?=[^>]*type='error')[^>]*>.*<jid-malformed /, DEADLINE_MS);
    raw.send(register('r4', 'second', 'second-pw'));
    await raw.waitFor(/<iq (?=[^>]*id='r4')(?=[^>]*type='result')[^>]*\/>/, DEADLINE_MS);
    raw.send(register('r5', 'third', 'third-pw'));
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a user removes their own account (§3.2): the iq result, then <not-authorized/>; every session ends, contacts are told, and the account is gone', async () => {
    await cluster.provision([{ username: 'leaver', password: 'leaver-pw' }, { username: 'friend', password: 'friend-pw' }], mutualContacts('leaver', 'friend'));
    const friend = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'friend', password: 'friend-pw', resource: 'f' });
    const other = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'leaver', password: 'leaver-pw', resource: 'other' });
    const mark = friend.mark();
    await friend.sendPresence();
    await other.sendPresence();
    await friend.expectStanza(is.presenceFrom('leaver@localhost/other'), DEADLINE_MS, "the other session's presence", mark);
    const raw = await rawSession(cluster.node(0).port, 'leaver', 'leaver-pw', 'raw', DEADLINE_MS);
    raw.send(`<iq type='set' id='unreg1'><query xmlns='jabber:iq:register'><remove/></query></iq>`);
    await raw.waitFor(/<iq (?=[^>]*id='unreg1')(?=[^>]*type='result')[^>]*\/>[\s\S]*<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
    // The user's other session ends too, and the contact is told (RFC 6121 §2.5.2: unsubscribed as the roster goes).
    await friend.expectStanza(is.presenceFrom('leaver@localhost/other', 'unavailable'), DEADLINE_MS, 'the other session unavailable', mark);
    await friend.expectStanza((s) => s.is('presence') && s.attrs.type === 'unsubscribe' && s.attrs.from === 'leaver@localhost', DEADLINE_MS, 'unsubscribe from the removed user', mark);
    await assert.rejects(TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'leaver', password: 'leaver-pw' }), 'the account is gone');
    await friend.stop();
    await other.stop().catch(() => undefined);
  });

  test('a user cannot change someone else\'s password', async () => {
    await cluster.provision([{ username: 'victim', password: 'victim-pw' }]);
    const client = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'newbie', password: 'battery staple' });
    const reply = await client.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, 'victim'), xml('password', {}, 'owned'))));
    assert.equal(errorCondition(reply), 'not-allowed');
    await client.stop();
    const victim = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'victim', password: 'victim-pw' });
    await victim.stop();
  });
});
