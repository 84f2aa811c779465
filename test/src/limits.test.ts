import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, clientStreamHeader, is, rawSession, xml } from '@vigil/testkit';

// Per-connection limits: each hostile client gets a clear answer and is cut
// off alone; the session that was already there carries on.
const DEADLINE_MS = 20_000;

describe('per-connection limits', () => {
  let cluster: Cluster;
  let bystander: TestClient;
  let port: number;
  const raws: RawConnection[] = [];

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      env: {
        VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true',
        VIGIL_STANZA_RATE: '200',
        VIGIL_STANZA_BURST: '400',
        VIGIL_PREAUTH_MAX_BYTES: '4096',
        VIGIL_MAX_OUTBOUND_BYTES: '65536',
      },
    });
    await cluster.provision(['dave', 'eve', 'frank', 'bob'].map((username) => ({ username, password: 'pw' })));
    port = cluster.node(0).port;
    bystander = await TestClient.connect({ port, domain: 'localhost', username: 'dave', password: 'pw', resource: 'watch' });
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bystander?.stop();
    await cluster?.stop();
  });

  test('a flood of stanzas over the rate limit ends that stream with <policy-violation/>', async () => {
    const raw = await rawSession(port, 'eve', 'pw', 'flood', DEADLINE_MS);
    raws.push(raw);
    // Chunks of 200, each answered before the next (under the in-flight limit): 600 in well under a second.
    for (let chunk = 0; chunk < 3 && !raw.isClosed; chunk++) {
      raw.send(Array.from({ length: 200 }, (_, i) => `<iq type='get' id='f${chunk}-${i}'><ping xmlns='urn:xmpp:ping'/></iq>`).join(''));
      await raw.waitFor(new RegExp(`id='f${chunk}-199'|policy-violation`), DEADLINE_MS);
    }
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    assert.match(raw.received, /stanzas a second/);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('an unauthenticated connection has a byte budget: beyond it, <policy-violation/>', async () => {
    const raw = await RawConnection.open(port);
    raws.push(raw);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    // Whitespace keeps no stanza open, so only the budget can stop it.
    raw.send(' '.repeat(8192));
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    assert.match(raw.received, /too much data before authentication/);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a client that never reads is cut off once its output buffer is full; its sender is unaffected', async () => {
    const frank = await rawSession(port, 'frank', 'pw', 'frozen', DEADLINE_MS);
    raws.push(frank);
    frank.socket.pause(); // stops reading: the kernel buffers fill, then the node's
    const bob = await TestClient.connect({ port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'sender' });
    const cut = cluster.node(0).service.waitForLog((r) => r.msg === 'client not reading; stream closed' && r.user === 'frank', DEADLINE_MS * 3, 'frank cut off');
    const body = 'x'.repeat(60_000);
    let sent = 0;
    let done = false;
    void cut.then(() => (done = true), () => (done = true));
    // Bounded: at most 300 × 60 KB, paced under the sender's own rate limit.
    while (!done && sent < 300) {
      await bob.send(xml('message', { to: 'frank@localhost/frozen', type: 'chat', id: `big-${sent}` }, xml('body', {}, body)));
      sent++;
      if (sent % 50 === 0) await bob.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    }
    const record = await cut;
    assert.ok(Number(record.bufferedBytes) > 65536, `buffered ${String(record.bufferedBytes)}`);
    const pong = await bob.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(pong.attrs.type, 'result');
    await bob.stop();
  });

  test('none of it disturbed the session that was already there', async () => {
    const m = bystander.mark();
    await bystander.sendPresence();
    await bystander.expectStanza(is.presenceFrom(bystander.jid), DEADLINE_MS, 'own presence', m);
  });
});
