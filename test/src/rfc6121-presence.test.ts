import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TestClient, errorCondition, is, xml, type Stanza } from '@vigil/testkit';

// RFC 6121 §4 and §8 beyond the walking skeleton: resources, priority,
// probes, directed presence, presence errors, last activity (XEP-0012).
const DEADLINE_MS = 10_000;

describe('presence (RFC 6121 §4)', () => {
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

  before(async () => {
    cluster = await Cluster.start({ nodes: 2 });
    await cluster.provision(
      ['alice', 'bob', 'eve', 'dave'].map((username) => ({ username, password: 'pw' })),
      [
        { owner: 'alice', contact: 'bob', subscription: 'both' },
        { owner: 'bob', contact: 'alice', subscription: 'both' },
        // eve believes she may see alice; alice never agreed (no 'from' for eve).
        { owner: 'eve', contact: 'alice', subscription: 'to' },
      ],
    );
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test("a new resource learns the presence of the user's other resources and they learn of it", async () => {
    const desk = await connect(0, 'alice', 'desk');
    await online(desk, xml('show', {}, 'away'));
    const phone = await connect(1, 'alice', 'phone');
    const d = desk.mark();
    await online(phone);
    const seen = await phone.expectStanza(is.presenceFrom('alice@localhost/desk'), DEADLINE_MS, "the desk's presence");
    assert.equal(seen.getChildText('show'), 'away');
    await desk.expectStanza(is.presenceFrom('alice@localhost/phone'), DEADLINE_MS, "the phone's presence", d);
  });

  test('an unauthorized probe reveals nothing: eve, who alice never approved, sees nothing of her', async () => {
    const eve = await connect(0, 'eve', 'spy');
    await online(eve);
    const bob = await connect(1, 'bob', 'laptop');
    await online(bob);
    // bob's probe was answered with both of alice's resources; eve's probe at the same moment with nothing.
    await bob.expectStanza(is.presenceFrom('alice@localhost/desk'), DEADLINE_MS, 'answer to the authorized probe');
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone'), DEADLINE_MS, 'answer to the authorized probe');
    // Nothing from any of alice's resources: at most the server's bare 'unavailable' that goes with the repair (§3.2.3).
    assert.deepEqual(eve.presencesFrom('alice@localhost').filter((x) => (x.attrs.from ?? '').includes('/')).map(String), []);
    // §4.3.2: the unauthorized probe is answered 'unsubscribed', which repairs eve's stale 'to'.
    await eve.expectStanza((x) => x.name === 'presence' && x.attrs.from === 'alice@localhost' && x.attrs.type === 'unsubscribed', DEADLINE_MS, 'unsubscribed');
    await eve.rosterGet();
    assert.equal((await eve.rosterGet()).find((i) => i.jid === 'alice@localhost')?.subscription, 'none');
  });

  test('a message to the bare JID reaches the resources with non-negative priority only (§8.5.2.1.1)', async () => {
    const alice = clients.find((c) => c.jid === 'alice@localhost/desk') as TestClient;
    const low = await connect(0, 'alice', 'background');
    await online(low, xml('priority', {}, '-1'));
    const bob = clients.find((c) => c.jid === 'bob@localhost/laptop') as TestClient;
    const [a, l] = [alice.mark(), low.mark()];
    await bob.send(xml('message', { to: 'alice@localhost', type: 'chat', id: 'm1' }, xml('body', {}, 'hi')));
    const got = await alice.expectStanza((s) => s.name === 'message' && s.attrs.id === 'm1', DEADLINE_MS, 'the message', a);
    assert.equal(got.attrs.from, 'bob@localhost/laptop');
    assert.equal(got.getChildText('body'), 'hi');
    // The same message went to every eligible resource at once; the negative one got none.
    const phone = clients.find((c) => c.jid === 'alice@localhost/phone') as TestClient;
    await phone.expectStanza((s) => s.name === 'message' && s.attrs.id === 'm1', DEADLINE_MS, 'the message on the phone');
    assert.deepEqual(low.received.slice(l.index).filter((s) => s.name === 'message').map(String), []);
    await low.stop();
  });

  test('directed presence to a non-contact is followed by unavailable when the session dies (§4.6.3)', async () => {
    const dave = await connect(1, 'dave', 'pc');
    await online(dave);
    const alice = await connect(0, 'alice', 'tablet');
    await online(alice);
    const d = dave.mark();
    await alice.sendPresence({ to: 'dave@localhost/pc' }, xml('status', {}, 'psst'));
    await dave.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'the directed presence', d);
    alice.crash();
    await dave.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'unavailable after the crash', d);
  });

  test('a directed unavailable already sent means no second one at session end', async () => {
    const dave = clients.find((c) => c.jid === 'dave@localhost/pc') as TestClient;
    const alice = await connect(0, 'alice', 'watch');
    await online(alice);
    const d = dave.mark();
    await alice.sendPresence({ to: 'dave@localhost' });
    await dave.expectStanza(is.presenceFrom(alice.jid), DEADLINE_MS, 'directed available', d);
    await alice.sendPresence({ to: 'dave@localhost', type: 'unavailable' });
    await dave.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'directed unavailable', d);
    await alice.stop();
    // bob, a subscriber, gets the session-end unavailable; when he has it, dave would have had his too.
    const bob = clients.find((c) => c.jid === 'bob@localhost/laptop') as TestClient;
    await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'the broadcast unavailable');
    assert.equal(dave.received.slice(d.index).filter(is.presenceFrom(alice.jid, 'unavailable')).length, 1);
  });

  test('a contact that answers with a presence error gets no more broadcasts this session (§4.4.2)', async () => {
    const alice = clients.find((c) => c.jid === 'alice@localhost/desk') as TestClient;
    const bob = clients.find((c) => c.jid === 'bob@localhost/laptop') as TestClient;
    await bob.sendPresence({ to: alice.jid, type: 'error' }, xml('error', { type: 'cancel' }, xml('service-unavailable', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' })));
    await alice.expectStanza((s) => s.name === 'presence' && s.attrs.type === 'error' && s.attrs.from === bob.jid, DEADLINE_MS, 'the error');
    const b = bob.mark();
    await online(alice, xml('status', {}, 'after the error'));
    const phone = clients.find((c) => c.jid === 'alice@localhost/phone') as TestClient;
    await phone.expectStanza((s) => is.presenceFrom(alice.jid)(s) && s.getChildText('status') === 'after the error', DEADLINE_MS, 'own resource still gets it');
    assert.deepEqual(bob.received.slice(b.index).filter(is.presenceFrom(alice.jid)).map(String), []);
  });

  test('last activity (XEP-0012): a subscriber learns how long ago, a stranger gets forbidden', async () => {
    const dave = clients.find((c) => c.jid === 'dave@localhost/pc') as TestClient;
    const bobPhone = await connect(0, 'bob', 'phone2');
    await online(bobPhone);
    await bobPhone.sendPresence({ type: 'unavailable' }, xml('status', {}, 'gone to lunch'));
    const bobLaptop = clients.find((c) => c.jid === 'bob@localhost/laptop') as TestClient;
    await bobLaptop.stop();
    const alice = clients.find((c) => c.jid === 'alice@localhost/desk') as TestClient;
    await alice.expectStanza(is.presenceFrom('bob@localhost/laptop', 'unavailable'), DEADLINE_MS, "bob's last resource gone");
    const last = await alice.request(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: 'jabber:iq:last' })));
    assert.equal(last.attrs.type, 'result');
    const seconds = Number(last.getChild('query', 'jabber:iq:last')?.attrs.seconds);
    assert.ok(Number.isInteger(seconds) && seconds >= 0 && seconds < 60, `seconds=${seconds}`);
    const denied = await dave.request(xml('iq', { type: 'get', to: 'bob@localhost' }, xml('query', { xmlns: 'jabber:iq:last' })));
    assert.equal(errorCondition(denied), 'forbidden');
    const ghost = await dave.request(xml('iq', { type: 'get', to: 'nobody@localhost' }, xml('query', { xmlns: 'jabber:iq:last' })));
    assert.equal(errorCondition(ghost), 'forbidden', 'a missing account answers like a stranger');
  });

  test('the same full JID bound on another node replaces the older session: <conflict/>, unavailable, then the new presence', async () => {
    const alice = clients.find((c) => c.jid === 'alice@localhost/desk') as TestClient;
    const first = await connect(0, 'bob', 'twin');
    await online(first, xml('status', {}, 'first'));
    await alice.expectStanza((s) => is.presenceFrom('bob@localhost/twin')(s) && s.getChildText('status') === 'first', DEADLINE_MS, 'the first twin');
    const a = alice.mark();
    const second = await connect(1, 'bob', 'twin');
    await online(second, xml('status', {}, 'second'));
    await alice.expectStanza((s) => is.presenceFrom('bob@localhost/twin')(s) && s.getChildText('status') === 'second', DEADLINE_MS, 'the second twin', a);
    const seen = alice.received.slice(a.index).filter((s) => s.name === 'presence' && s.attrs.from === 'bob@localhost/twin');
    // The older session is announced gone before the newer one is seen.
    assert.deepEqual(seen.map((s) => s.attrs.type ?? s.getChildText('status')), ['unavailable', 'second']);
    const deadline = Date.now() + DEADLINE_MS;
    while (!first.errors.some((e) => (e as { condition?: string }).condition === 'conflict') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(first.errors.some((e) => (e as { condition?: string }).condition === 'conflict'), `errors: ${first.errors.map(String).join(', ')}`);
    assert.equal(second.xmpp.status, 'online');
  });
});
