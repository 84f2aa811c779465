import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TestClient, errorCondition, is, xml, type Stanza, mutualContacts } from '@vigil/testkit';

// XEP-0191 through real clients: the block list, its pushes, and what
// blocking does to presence and messages in both directions.
const DEADLINE_MS = 10_000;
const NS = 'urn:xmpp:blocking';
const blockIq = (kind: 'block' | 'unblock', ...jids: string[]) => xml('iq', { type: 'set' }, xml(kind, { xmlns: NS }, ...jids.map((jid) => xml('item', { jid }))));
const isBlockPush = (kind: string) => (s: Stanza) => s.name === 'iq' && s.attrs.type === 'set' && s.getChild(kind, NS) !== undefined;

describe('blocking (XEP-0191)', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let aliceToo: TestClient;
  let bob: TestClient;

  const blocklist = async (c: TestClient) =>
    ((await c.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: NS })))).getChild('blocklist', NS)?.getChildren('item') ?? []).map((i) => i.attrs.jid);

  before(async () => {
    cluster = await Cluster.start({ nodes: 2 });
    await cluster.provision(
      [{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }],
      mutualContacts('alice', 'bob'),
    );
    alice = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'alice', password: 'pw', resource: 'a1' });
    aliceToo = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'alice', password: 'pw', resource: 'a2' });
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'b' });
    await bob.sendPresence();
    await alice.sendPresence();
    await aliceToo.sendPresence();
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'alice online');
    await alice.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, 'bob online');
  });

  after(async () => {
    await Promise.all([alice, aliceToo, bob].map((c) => c?.stop()));
    await cluster?.stop();
  });

  test('the block list starts empty', async () => {
    assert.deepEqual(await blocklist(alice), []);
    assert.deepEqual(await blocklist(aliceToo), []);
  });

  test('blocking: the list and a push to every resource that fetched it; the blocked contact sees the user go offline', async () => {
    const [b, a2] = [bob.mark(), aliceToo.mark()];
    assert.equal((await alice.request(blockIq('block', 'bob@localhost'))).attrs.type, 'result');
    const push = await aliceToo.expectStanza(isBlockPush('block'), DEADLINE_MS, 'block push on the other node', a2);
    assert.equal(push.getChild('block', NS)?.getChild('item')?.attrs.jid, 'bob@localhost');
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'alice unavailable to bob', b);
    await aliceToo.expectStanza((s) => s.name === 'presence' && s.attrs.from === 'bob@localhost' && s.attrs.type === 'unavailable', DEADLINE_MS, 'bob offline to alice', a2);
    assert.deepEqual(await blocklist(alice), ['bob@localhost']);
  });

  test('after blocking nothing flows either way: presence and messages', async () => {
    const [a, b] = [alice.mark(), bob.mark()];
    await bob.send(xml('message', { to: 'alice@localhost/a1', id: 'blocked-1' }, xml('body', {}, 'hello?')));
    await bob.sendPresence({}, xml('status', {}, 'still here'));
    await alice.sendPresence({}, xml('status', {}, 'new status'));
    // Markers that did travel prove the stanzas above had time to arrive.
    await bob.expectStanza((s) => is.presenceFrom(bob.jid)(s) && s.getChildText('status') === 'still here', DEADLINE_MS, 'own echo', b);
    await aliceToo.expectStanza((s) => is.presenceFrom(alice.jid)(s) && s.getChildText('status') === 'new status', DEADLINE_MS, 'own resource');
    await aliceToo.send(xml('message', { to: 'alice@localhost/a1', id: 'marker' }, xml('body', {}, 'marker')));
    await alice.expectStanza((s) => s.attrs.id === 'marker', DEADLINE_MS, 'marker message', a);
    assert.deepEqual(alice.received.slice(a.index).filter((s) => s.attrs.id === 'blocked-1').map(String), [], 'blocked message delivered');
    assert.deepEqual(alice.received.slice(a.index).filter(is.presenceFrom(bob.jid)).map(String), [], 'blocked presence delivered');
    assert.deepEqual(bob.received.slice(b.index).filter(is.presenceFrom(alice.jid)).map(String), [], 'presence to blocked contact');
    // §3.3: the blocked sender's message is answered as if nobody were there (SHOULD service-unavailable).
    const bounced = await bob.expectStanza((s) => s.name === 'message' && s.attrs.id === 'blocked-1' && s.attrs.type === 'error', DEADLINE_MS, 'the blocked message bounced', b);
    assert.equal(errorCondition(bounced), 'service-unavailable');
  });

  test('while blocked: the contact\'s subscription stanzas get no answer, and each side gets a clear error or nothing', async () => {
    const b = bob.mark();
    // A request from a blocked contact is dropped: no automatic 'subscribed', no presence that would reveal alice.
    await bob.sendPresence({ to: 'alice@localhost', type: 'subscribe' });
    // bob asks alice's server something: it answers as if nobody were there.
    const ping = await bob.request(xml('iq', { type: 'get', to: 'alice@localhost/a1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(errorCondition(ping), 'service-unavailable');
    // alice writing to the contact she blocked is refused with the blocking error (XEP-0191 §3.6).
    const refused = await alice.request(xml('iq', { type: 'get', to: 'bob@localhost/b' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(errorCondition(refused), 'not-acceptable');
    assert.ok(refused.getChild('error')?.getChild('blocked', 'urn:xmpp:blocking:errors'), 'carries <blocked/>');
    const answers = bob.received.slice(b.index).filter((s) => s.name === 'presence' && (s.attrs.from ?? '').startsWith('alice@localhost'));
    assert.deepEqual(answers.map(String), [], 'a blocked contact learned something');
    // Blocking again changes nothing and pushes nothing.
    const a2 = aliceToo.mark();
    assert.equal((await alice.request(blockIq('block', 'bob@localhost'))).attrs.type, 'result');
    await aliceToo.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: NS })));
    assert.deepEqual(aliceToo.received.slice(a2.index).filter(isBlockPush('block')).map(String), []);
  });

  test('unblocking: a push, and presence flows again both ways', async () => {
    const [a, a2, b] = [alice.mark(), aliceToo.mark(), bob.mark()];
    assert.equal((await alice.request(blockIq('unblock', 'bob@localhost'))).attrs.type, 'result');
    await aliceToo.expectStanza(isBlockPush('unblock'), DEADLINE_MS, 'unblock push', a2);
    await bob.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, "alice's presence again", b);
    await alice.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, "bob's presence again (probe)", a);
    assert.deepEqual(await blocklist(alice), []);
  });

  test('unblock with no items unblocks everyone; bad requests get errors', async () => {
    await alice.request(blockIq('block', 'x@localhost', 'y@localhost'));
    assert.deepEqual((await blocklist(alice)).sort(), ['x@localhost', 'y@localhost']);
    const a2 = aliceToo.mark();
    await alice.request(blockIq('unblock'));
    const push = await aliceToo.expectStanza(isBlockPush('unblock'), DEADLINE_MS, 'unblock-all push', a2);
    assert.equal(push.getChild('unblock', NS)?.getChildren('item').length, 0);
    assert.deepEqual(await blocklist(alice), []);
    assert.equal(errorCondition(await alice.request(blockIq('block'))), 'bad-request');
    assert.equal(errorCondition(await alice.request(blockIq('block', 'not a jid@@'))), 'jid-malformed');
  });
});
