import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, errorCondition, is, mutualContacts, rawSession, xml, type Stanza } from '@vigil/testkit';

// XEP-0198 end to end: acks both ways, resumption on the same node before and
// after the presence grace, bouncing what a session that is not resumed never
// acknowledged, and the errors of bad stream-management input. alice speaks
// through a raw socket so every counter is visible; bob is a stock client.
const DEADLINE_MS = 20_000;
const GRACE_MS = 8000;
const SM = 'urn:xmpp:sm:3';

const rawLogin = (port: number, username: string) => rawSession(port, username, 'pw', undefined, DEADLINE_MS);

async function bind(raw: RawConnection, resource: string): Promise<void> {
  raw.send(`<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await raw.waitFor(/<iq[^>]*id='bind-1'[^>]*type='result'|<iq[^>]*type='result'[^>]*id='bind-1'/, DEADLINE_MS);
}

/** Logs in, binds, enables resumable stream management; returns the connection and the resumption id. */
async function managedLogin(port: number, username: string, resource: string): Promise<{ raw: RawConnection; id: string }> {
  const raw = await rawLogin(port, username);
  await bind(raw, resource);
  raw.send(`<enable xmlns='${SM}' resume='true'/>`);
  const out = await raw.waitFor(/<enabled [^>]*\/>/, DEADLINE_MS);
  const id = /<enabled [^>]*id='([^']+)'/.exec(out)?.[1];
  assert.ok(id, `no resumption id in ${out}`);
  return { raw, id };
}

/** Stanzas the server sent since stream management was enabled: the 'h' that acknowledges them all. */
function stanzasSinceEnabled(received: string): number {
  const since = received.slice(received.indexOf('<enabled '));
  return countOf(since, /<(?:presence|message|iq)[\s>/]/);
}

function countOf(text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern.source, 'g'))].length;
}

/** Waits for a log record of node 0 that appears after this call's mark (earlier tests log the same lines). */
function logMark(cluster: Cluster): (msg: string, what: string, stanza?: string) => Promise<unknown> {
  const service = cluster.node(0).service;
  const earlier = new Set(service.records);
  return (msg, what, stanza?: string) => service.waitForLog((r) => r.msg === msg && !earlier.has(r) && (stanza === undefined || r.stanza === stanza), DEADLINE_MS, what);
}

describe('stream management (XEP-0198)', () => {
  let cluster: Cluster;
  let bob: TestClient;
  const raws: RawConnection[] = [];
  const aliceJid = 'alice@localhost/phone';

  before(async () => {
    cluster = await Cluster.start({
      nodes: 2,
      env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_SM_PRESENCE_GRACE_MS: String(GRACE_MS), VIGIL_SM_RESUME_MS: '60000', VIGIL_LOG_LEVEL: 'debug' },
    });
    await cluster.provision([{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }], mutualContacts('alice', 'bob'));
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'desk' });
    const m = bob.mark();
    await bob.sendPresence();
    await bob.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, 'own presence', m);
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bob?.stop();
    await cluster?.stop();
  });

  test('a stock client (@xmpp/client) negotiates stream management with resumption', () => {
    assert.ok(bob.features.some((f) => f.getChild('sm', SM) !== undefined), 'sm offered after authentication');
    const sm = (bob.xmpp as unknown as { streamManagement: { enabled: boolean; id: string } }).streamManagement;
    assert.equal(sm.enabled, true);
    assert.notEqual(sm.id, '');
  });

  test("enable is refused before binding; <enabled/> carries an id, resume and a max; <r/> is answered with the client's count", async () => {
    const raw = await rawLogin(cluster.node(0).port, 'alice');
    raws.push(raw);
    raw.send(`<enable xmlns='${SM}' resume='true'/>`);
    await raw.waitFor(new RegExp(`<failed xmlns='${SM}'><unexpected-request`), DEADLINE_MS);
    await bind(raw, 'phone');
    raw.send(`<enable xmlns='${SM}' resume='true' max='30'/>`);
    const out = await raw.waitFor(/<enabled [^>]*\/>/, DEADLINE_MS);
    assert.match(out, /<enabled [^>]*resume='true'/);
    assert.match(out, /<enabled [^>]*max='30'/);
    raw.send(`<presence/><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='${SM}'/>`);
    await raw.waitFor(new RegExp(`<a xmlns='${SM}' h='2'/>`), DEADLINE_MS);
    raw.send('</stream:stream>');
    await raw.waitClosed(DEADLINE_MS);
  });

  test('the server asks for acks after it sends stanzas, and an h beyond what it sent ends the stream', async () => {
    const { raw } = await managedLogin(cluster.node(0).port, 'alice', 'phone');
    raws.push(raw);
    await bob.send(xml('message', { to: aliceJid, type: 'chat', id: 'ackme' }, xml('body', {}, 'hi')));
    await raw.waitFor(/id='ackme'[\s\S]*<r xmlns='urn:xmpp:sm:3'\/>/, DEADLINE_MS);
    raw.send(`<a xmlns='${SM}' h='1'/>`);
    raw.send(`<a xmlns='${SM}' h='99'/>`);
    await raw.waitFor(/<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('an unknown resumption id fails with item-not-found, and the client can still bind', async () => {
    const raw = await rawLogin(cluster.node(0).port, 'alice');
    raws.push(raw);
    raw.send(`<resume xmlns='${SM}' previd='no-such-stream' h='0'/>`);
    await raw.waitFor(/<failed xmlns='urn:xmpp:sm:3'><item-not-found/, DEADLINE_MS);
    await bind(raw, 'other');
    raw.send('</stream:stream>');
    await raw.waitClosed(DEADLINE_MS);
  });

  test('resumed before the presence grace: contacts never see it go, and what it missed is sent again', async () => {
    const { raw, id } = await managedLogin(cluster.node(0).port, 'alice', 'phone');
    raws.push(raw);
    const b = bob.mark();
    raw.send(`<presence><status>here</status></presence>`);
    await bob.expectStanza(is.presenceFrom(aliceJid), DEADLINE_MS, "alice's presence", b);
    const logs = logMark(cluster);
    raw.destroy();
    // Sent while alice has no connection: kept for her.
    await bob.send(xml('message', { to: aliceJid, type: 'chat', id: 'while-away' }, xml('body', {}, 'missed me?')));
    await logs('managed stream lost its connection; resumable', 'hibernation');
    const again = await rawLogin(cluster.node(0).port, 'alice');
    raws.push(again);
    again.send(`<resume xmlns='${SM}' previd='${id}' h='1'/>`);
    const out = await again.waitFor(/<resumed [^>]*\/>[\s\S]*id='while-away'/, DEADLINE_MS);
    assert.match(out, new RegExp(`<resumed xmlns='${SM}' previd='${id}' h='1'/>`));
    // The session goes on: a message from alice reaches bob from the same full JID.
    again.send(`<message to='bob@localhost' type='chat' id='back'><body>back</body></message>`);
    const back = await bob.expectStanza((s: Stanza) => s.name === 'message' && s.attrs.id === 'back', DEADLINE_MS, "alice's message", b);
    assert.equal(back.attrs.from, aliceJid);
    assert.deepEqual(bob.received.slice(b.index).filter(is.presenceFrom(aliceJid, 'unavailable')).map(String), []);
    again.send('</stream:stream>');
    await bob.expectStanza(is.presenceFrom(aliceJid, 'unavailable'), DEADLINE_MS, 'unavailable after the graceful close', b);
  });

  test('after the presence grace contacts are told; a later resumption re-announces the last presence', async () => {
    const { raw, id } = await managedLogin(cluster.node(0).port, 'alice', 'phone');
    raws.push(raw);
    const b = bob.mark();
    raw.send(`<presence><show>dnd</show></presence>`);
    await bob.expectStanza(is.presenceFrom(aliceJid), DEADLINE_MS, "alice's presence", b);
    await raw.waitFor(/<presence [^>]*from='bob@localhost\/desk'/, DEADLINE_MS);
    const h = stanzasSinceEnabled(raw.received);
    raw.destroy();
    await bob.expectStanza(is.presenceFrom(aliceJid, 'unavailable'), DEADLINE_MS, 'unavailable after the grace', b);
    const afterGrace = bob.mark();
    const again = await rawLogin(cluster.node(0).port, 'alice');
    raws.push(again);
    // Everything received before the crash is acknowledged: nothing is sent again.
    again.send(`<resume xmlns='${SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(/<resumed /, DEADLINE_MS);
    const back = await bob.expectStanza(is.presenceFrom(aliceJid), DEADLINE_MS, "alice's presence again", afterGrace);
    assert.equal(back.getChildText('show'), 'dnd');
    // Her owner probed her contacts again: bob's current presence comes to the resumed stream.
    await again.waitFor(/<resumed [^>]*\/>[\s\S]*<presence [^>]*from='bob@localhost\/desk'/, DEADLINE_MS);
    again.send('</stream:stream>');
    await again.waitClosed(DEADLINE_MS);
  });

  test('a session replaced instead of resumed bounces what it never acknowledged to the sender', async () => {
    const { raw } = await managedLogin(cluster.node(0).port, 'alice', 'phone');
    raws.push(raw);
    raw.send('<presence/>');
    await raw.waitFor(/<presence [^>]*from='alice@localhost\/phone'/, DEADLINE_MS);
    const lost = logMark(cluster);
    raw.destroy();
    await lost('managed stream lost its connection; resumable', 'hibernation');
    const b = bob.mark();
    const kept = logMark(cluster);
    await bob.send(xml('message', { to: aliceJid, type: 'chat', id: 'lost-1' }, xml('body', {}, 'one')));
    // The message itself, not some presence that arrived after the connection was lost.
    await kept('stanza kept for a resumption', 'the message queued', 'message');
    const fresh = await rawLogin(cluster.node(0).port, 'alice');
    raws.push(fresh);
    await bind(fresh, 'phone'); // same resource, no resumption: the hibernating session is replaced
    const bounce = await bob.expectStanza((s: Stanza) => s.name === 'message' && s.attrs.id === 'lost-1' && s.attrs.type === 'error', DEADLINE_MS, 'the bounce', b).catch((e: unknown) => {
      const tail = cluster.node(0).service.records.filter((r) => r.level !== 'debug' || r.msg === 'stanza kept for a resumption').slice(-12);
      throw new Error(`no bounce; node-1 said:\n${tail.map((r) => JSON.stringify(r)).join('\n')}`, { cause: e });
    });
    assert.equal(errorCondition(bounce), 'recipient-unavailable');
    assert.equal(bounce.attrs.from, aliceJid);
    assert.equal(countOf(fresh.received, /id='lost-1'/), 0);
    fresh.send('</stream:stream>');
    await fresh.waitClosed(DEADLINE_MS);
  });
});
