import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TestClient, errorCondition, xml, type Stanza } from '@vigil/testkit';

// RFC 6121 §2 through real clients on two connection nodes.
const DEADLINE_MS = 10_000;
const ROSTER = 'jabber:iq:roster';

const rosterSet = (...items: Stanza[]) => xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, ...items));
const item = (attrs: Record<string, string>, ...groups: string[]) => xml('item', attrs, ...groups.map((g) => xml('group', {}, g)));
const isPush = (jid: string, attrs: Record<string, string> = {}) => (s: Stanza) => {
  const pushed = s.name === 'iq' && s.attrs.type === 'set' ? s.getChild('query', ROSTER)?.getChild('item') : undefined;
  return pushed?.attrs.jid === jid && Object.entries(attrs).every(([k, v]) => pushed.attrs[k] === v);
};

describe('rosters (RFC 6121 §2)', () => {
  let cluster: Cluster;
  let phone: TestClient;
  let desk: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, echo: process.env.VIGIL_TEST_ECHO === '1', env: { VIGIL_MAX_ROSTER_ITEMS: '3', VIGIL_LOG_LEVEL: 'debug' } });
    await cluster.provision([{ username: 'romeo', password: 'r' }, { username: 'juliet', password: 'j' }]);
    phone = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'romeo', password: 'r', resource: 'phone' });
    desk = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'romeo', password: 'r', resource: 'desk' });
    await phone.rosterGet();
    await desk.rosterGet();
  });

  after(async () => {
    await Promise.all([phone?.stop(), desk?.stop()]);
    await cluster?.stop();
  });

  test('a roster set adds an item with name and groups and pushes it to every interested resource on any node', async () => {
    const mark = desk.mark();
    const reply = await phone.request(rosterSet(item({ jid: 'juliet@localhost', name: 'Juliet' }, 'Capulets', 'Friends')));
    assert.equal(reply.attrs.type, 'result');
    const push = await desk.expectStanza(isPush('juliet@localhost'), DEADLINE_MS, 'roster push on the other node', mark);
    const pushed = push.getChild('query', ROSTER)?.getChild('item');
    assert.equal(pushed?.attrs.name, 'Juliet');
    assert.equal(pushed?.attrs.subscription, 'none');
    assert.deepEqual((pushed?.getChildren('group') ?? []).map((g) => g.getText()), ['Capulets', 'Friends']);
    await phone.expectStanza(isPush('juliet@localhost'), DEADLINE_MS, 'roster push to the resource that made the change');
    assert.deepEqual(await phone.rosterGet(), [{ jid: 'juliet@localhost', subscription: 'none', name: 'Juliet' }]);
  });

  test('roster versioning: an up-to-date ver gets an empty result; pushes carry the new ver', async () => {
    const full = await phone.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })));
    const ver = full.getChild('query', ROSTER)?.attrs.ver;
    assert.ok(ver !== undefined && ver !== '');
    const same = await phone.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER, ver })));
    assert.equal(same.attrs.type, 'result');
    assert.equal(same.getChild('query'), undefined);
    const mark = phone.mark();
    await phone.request(rosterSet(item({ jid: 'juliet@localhost', name: 'J' })));
    const push = await phone.expectStanza(isPush('juliet@localhost', { name: 'J' }), DEADLINE_MS, 'push after rename', mark);
    assert.notEqual(push.getChild('query', ROSTER)?.attrs.ver, ver);
  });

  test('bad roster sets get the error RFC 6121 §2.3.3 names', async () => {
    const cases: [string, Stanza, string][] = [
      ['two items', rosterSet(item({ jid: 'a@localhost' }), item({ jid: 'b@localhost' })), 'bad-request'],
      ['an empty group name', rosterSet(item({ jid: 'a@localhost' }, '')), 'not-acceptable'],
      ['a duplicate group', rosterSet(item({ jid: 'a@localhost' }, 'x', 'x')), 'bad-request'],
      ['removing an item that is not there', rosterSet(item({ jid: 'nobody@localhost', subscription: 'remove' })), 'item-not-found'],
    ];
    for (const [what, stanza, condition] of cases) {
      const reply = await phone.request(stanza);
      assert.equal(reply.attrs.type, 'error', what);
      assert.equal(errorCondition(reply), condition, what);
    }
    // The session is still fine.
    assert.equal((await phone.rosterGet()).length, 1);
  });

  test('a subscription state in a roster set is ignored: clients cannot grant themselves subscriptions (§2.1.5)', async () => {
    assert.equal((await phone.request(rosterSet(item({ jid: 'b@localhost', subscription: 'both' })))).attrs.type, 'result');
    const b = (await phone.rosterGet()).find((i) => i.jid === 'b@localhost');
    assert.equal(b?.subscription, 'none');
  });

  test('a roster over the configured maximum refuses new items with policy-violation', async () => {
    assert.equal((await phone.request(rosterSet(item({ jid: 'c@localhost' })))).attrs.type, 'result');
    const reply = await phone.request(rosterSet(item({ jid: 'd@localhost' })));
    assert.equal(errorCondition(reply), 'policy-violation');
    // Updating an existing item is still allowed at the maximum.
    assert.equal((await phone.request(rosterSet(item({ jid: 'c@localhost', name: 'See' })))).attrs.type, 'result');
  });

  test('removing an item pushes subscription=remove to every interested resource', async () => {
    const mark = desk.mark();
    assert.equal((await phone.request(rosterSet(item({ jid: 'c@localhost', subscription: 'remove' })))).attrs.type, 'result');
    await desk.expectStanza(isPush('c@localhost', { subscription: 'remove' }), DEADLINE_MS, 'removal push', mark);
    assert.deepEqual((await phone.rosterGet()).map((i) => i.jid).sort(), ['b@localhost', 'juliet@localhost']);
  });

  test('a resource that never fetched the roster gets no pushes', async () => {
    const quiet = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'romeo', password: 'r', resource: 'quiet' });
    const [phoneMark, deskMark] = [phone.mark(), desk.mark()];
    await phone.request(rosterSet(item({ jid: 'b@localhost', name: 'Bee' })));
    await phone.expectStanza(isPush('b@localhost', { name: 'Bee' }), DEADLINE_MS, 'push to the interested resource', phoneMark);
    await desk.expectStanza(isPush('b@localhost', { name: 'Bee' }), DEADLINE_MS, 'push to the other interested resource', deskMark);
    // The push reached both interested resources, so it was routed; the quiet one must have none.
    assert.deepEqual(quiet.received.filter(isPush('b@localhost')), []);
    await quiet.stop();
  });
});
