import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TestClient, is, xml, type Stanza } from '@vigil/testkit';

// RFC 6121 §3 (subscriptions) end to end: two users on different nodes,
// every answer checked on both sides, rosters included.
const DEADLINE_MS = 10_000;
const ROSTER = 'jabber:iq:roster';

const pushOf = (jid: string, attrs: Record<string, string | undefined>) => (s: Stanza) => {
  const item = s.name === 'iq' && s.attrs.type === 'set' ? s.getChild('query', ROSTER)?.getChild('item') : undefined;
  return item?.attrs.jid === jid && Object.entries(attrs).every(([k, v]) => item.attrs[k] === v);
};
const subscription = (from: string, type: string) => (s: Stanza) => s.name === 'presence' && s.attrs.from === from && s.attrs.type === type;

describe('presence subscriptions (RFC 6121 §3)', () => {
  let cluster: Cluster;
  const clients: TestClient[] = [];
  const login = async (node: number, username: string, resource = 'r') => {
    const c = await TestClient.connect({ port: cluster.node(node).port, domain: 'localhost', username, password: `${username}-pw`, resource });
    clients.push(c);
    await c.rosterGet();
    await c.sendPresence();
    await c.expectStanza(is.presenceFrom(c.jid), DEADLINE_MS, 'own presence', undefined);
    return c;
  };
  let romeo: TestClient;
  let juliet: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2 });
    await cluster.provision(['romeo', 'juliet', 'nurse', 'mercutio'].map((u) => ({ username: u, password: `${u}-pw` })));
    romeo = await login(0, 'romeo');
    juliet = await login(1, 'juliet');
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster?.stop();
  });

  test('subscribe: the request is stamped with the bare JID, the roster shows ask=subscribe', async () => {
    const [r, j] = [romeo.mark(), juliet.mark()];
    await romeo.sendPresence({ to: 'juliet@localhost', type: 'subscribe', from: 'mallory@localhost' });
    await romeo.expectStanza(pushOf('juliet@localhost', { subscription: 'none', ask: 'subscribe' }), DEADLINE_MS, 'push none+ask', r);
    const req = await juliet.expectStanza(subscription('romeo@localhost', 'subscribe'), DEADLINE_MS, 'the request', j);
    assert.equal(req.attrs.from, 'romeo@localhost', 'the server stamps the bare JID, whatever the client wrote');
  });

  test('subscribed: both rosters move, the subscriber gets the answer and the contact\'s presence', async () => {
    const [r, j] = [romeo.mark(), juliet.mark()];
    await juliet.sendPresence({ to: 'romeo@localhost', type: 'subscribed' });
    await juliet.expectStanza(pushOf('romeo@localhost', { subscription: 'from' }), DEADLINE_MS, 'push from', j);
    await romeo.expectStanza(pushOf('juliet@localhost', { subscription: 'to', ask: undefined }), DEADLINE_MS, 'push to', r);
    await romeo.expectStanza(subscription('juliet@localhost', 'subscribed'), DEADLINE_MS, 'subscribed', r);
    await romeo.expectStanza(is.presenceFrom(juliet.jid), DEADLINE_MS, "juliet's presence (§3.1.5)", r);
  });

  test('the reverse direction makes it mutual: subscription both on both sides', async () => {
    const [r, j] = [romeo.mark(), juliet.mark()];
    await juliet.sendPresence({ to: 'romeo@localhost', type: 'subscribe' });
    await romeo.expectStanza(subscription('juliet@localhost', 'subscribe'), DEADLINE_MS, 'request', r);
    await romeo.sendPresence({ to: 'juliet@localhost', type: 'subscribed' });
    await juliet.expectStanza(pushOf('romeo@localhost', { subscription: 'both' }), DEADLINE_MS, 'push both', j);
    await romeo.expectStanza(pushOf('juliet@localhost', { subscription: 'both' }), DEADLINE_MS, 'push both', r);
    await juliet.expectStanza(is.presenceFrom(romeo.jid), DEADLINE_MS, "romeo's presence", j);
  });

  test('a request to an offline user is stored and shown when the user next becomes available', async () => {
    await romeo.sendPresence({ to: 'mercutio@localhost', type: 'subscribe' }, xml('status', {}, 'friends?'));
    await romeo.expectStanza(pushOf('mercutio@localhost', { ask: 'subscribe' }), DEADLINE_MS, 'push ask');
    const mercutio = await login(0, 'mercutio');
    const req = await mercutio.expectStanza(subscription('romeo@localhost', 'subscribe'), DEADLINE_MS, 'the stored request');
    assert.equal(req.getChildText('status'), 'friends?');
    // Denying it clears romeo's pending-out.
    const r = romeo.mark();
    await mercutio.sendPresence({ to: 'romeo@localhost', type: 'unsubscribed' });
    await romeo.expectStanza(pushOf('mercutio@localhost', { subscription: 'none', ask: undefined }), DEADLINE_MS, 'pending cleared', r);
    await romeo.expectStanza(subscription('mercutio@localhost', 'unsubscribed'), DEADLINE_MS, 'the denial', r);
  });

  test('pre-approval (§3.4): a later request is approved by the server, the user never has to answer', async () => {
    const nurse = await login(0, 'nurse');
    const n = nurse.mark();
    await nurse.sendPresence({ to: 'juliet@localhost', type: 'subscribed' });
    await nurse.expectStanza(pushOf('juliet@localhost', { approved: 'true' }), DEADLINE_MS, 'pre-approved item', n);
    const j = juliet.mark();
    await juliet.sendPresence({ to: 'nurse@localhost', type: 'subscribe' });
    await juliet.expectStanza(subscription('nurse@localhost', 'subscribed'), DEADLINE_MS, 'automatic approval', j);
    await juliet.expectStanza(pushOf('nurse@localhost', { subscription: 'to' }), DEADLINE_MS, 'push to', j);
    await nurse.expectStanza(pushOf('juliet@localhost', { subscription: 'from' }), DEADLINE_MS, 'push from', n);
    assert.deepEqual(nurse.received.filter(subscription('juliet@localhost', 'subscribe')).map(String), [], 'the request was not shown');
  });

  test('a request to an account that does not exist is answered with unsubscribed (§3.1.3)', async () => {
    const r = romeo.mark();
    await romeo.sendPresence({ to: 'ghost@localhost', type: 'subscribe' });
    await romeo.expectStanza(subscription('ghost@localhost', 'unsubscribed'), DEADLINE_MS, 'unsubscribed from the ghost', r);
  });

  test('unsubscribe: the contact shows the user offline from then on and both rosters drop a direction', async () => {
    const [r, j] = [romeo.mark(), juliet.mark()];
    await juliet.sendPresence({ to: 'romeo@localhost', type: 'unsubscribe' });
    await juliet.expectStanza(pushOf('romeo@localhost', { subscription: 'from' }), DEADLINE_MS, 'juliet keeps from', j);
    await romeo.expectStanza(pushOf('juliet@localhost', { subscription: 'to' }), DEADLINE_MS, 'romeo keeps to', r);
    await juliet.expectStanza(is.presenceFrom(romeo.jid, 'unavailable'), DEADLINE_MS, 'romeo unavailable to juliet (§3.3.3)', j);
    // Romeo's next presence no longer reaches juliet.
    const j2 = juliet.mark();
    await romeo.sendPresence({}, xml('show', {}, 'dnd'));
    await romeo.expectStanza((s) => is.presenceFrom(romeo.jid)(s) && s.getChildText('show') === 'dnd', DEADLINE_MS, 'own echo');
    await juliet.sendPresence({}, xml('status', {}, 'sync'));
    await juliet.expectStanza((s) => is.presenceFrom(juliet.jid)(s) && s.getChildText('status') === 'sync', DEADLINE_MS, 'own echo', j2);
    assert.deepEqual(juliet.received.slice(j2.index).filter(is.presenceFrom(romeo.jid)).map(String), []);
  });

  test('removing a contact whose request is pending denies it without showing the requester any presence', async () => {
    const nurse = clients.find((c) => c.jid.startsWith('nurse@')) as TestClient;
    const n = nurse.mark();
    await romeo.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'nurse@localhost' }))));
    await nurse.sendPresence({ to: 'romeo@localhost', type: 'subscribe' });
    await romeo.expectStanza(subscription('nurse@localhost', 'subscribe'), DEADLINE_MS, 'the request');
    await romeo.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'nurse@localhost', subscription: 'remove' }))));
    await nurse.expectStanza(subscription('romeo@localhost', 'unsubscribed'), DEADLINE_MS, 'the denial', n);
    assert.deepEqual(nurse.received.slice(n.index).filter((s) => s.name === 'presence' && (s.attrs.from ?? '').startsWith('romeo@localhost/')).map(String), []);
  });

  test('removing a contact cancels the subscription both ways (§2.5.2)', async () => {
    const [r, j] = [romeo.mark(), juliet.mark()];
    await romeo.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'juliet@localhost', subscription: 'remove' }))));
    await romeo.expectStanza(pushOf('juliet@localhost', { subscription: 'remove' }), DEADLINE_MS, 'removal push', r);
    await juliet.expectStanza(pushOf('romeo@localhost', { subscription: 'none' }), DEADLINE_MS, 'juliet ends at none', j);
    assert.deepEqual((await juliet.rosterGet()).find((i) => i.jid === 'romeo@localhost')?.subscription, 'none');
  });
});
