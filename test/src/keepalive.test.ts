import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, clientStreamHeader, contactPairOnline, is } from '@vigil/testkit';

// XEP-0199 from the server: a client that stops answering without closing
// TCP (a dead phone, a cut cable) is declared lost after the idle time and
// the ping timeout, and its contacts are told; a client that answers stays.
const DEADLINE_MS = 20_000;

describe('dead-client detection with server pings (XEP-0199)', () => {
  let cluster: Cluster;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    cluster = await Cluster.start({ nodes: 2, env: { VIGIL_CLIENT_IDLE_PING_MS: '300', VIGIL_CLIENT_PING_TIMEOUT_MS: '600', VIGIL_AUTH_TIMEOUT_MS: '4000' } });
    ({ alice, bob } = await contactPairOnline(cluster, { aliceResource: 'phone', bobResource: 'desk', timeoutMs: DEADLINE_MS }));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await cluster?.stop();
  });

  const isPing = (s: { name: string; attrs: Record<string, string | undefined>; getChild(n: string, ns?: string): unknown }) =>
    s.name === 'iq' && s.attrs.type === 'get' && s.getChild('ping', 'urn:xmpp:ping') !== undefined;

  test('an idle client that answers is pinged again and again and stays online', async () => {
    const mark = bob.mark();
    for (let n = 0; n < 3; n++) {
      const m = bob.mark();
      await bob.expectStanza(isPing, DEADLINE_MS, `server ping ${n + 1}`, m);
    }
    assert.equal(bob.xmpp.status, 'online');
    assert.ok(bob.received.slice(mark.index).filter(isPing).length >= 3);
  });

  test('a connection that never authenticates is closed with <connection-timeout/> after its budget', async () => {
    const raw = await RawConnection.open(cluster.node(1).port);
    raw.send(clientStreamHeader('localhost'));
    await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    await raw.waitFor(/<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a client that goes silent without closing TCP is declared lost and its contact is told', async () => {
    const mark = bob.mark();
    // alice's device stops reading: pings pile up unanswered, the socket stays open.
    alice.xmpp.reconnect.stop();
    alice.freeze();
    const gone = await bob.expectStanza(is.presenceFrom(alice.jid, 'unavailable'), DEADLINE_MS, 'unavailable after the ping timeout', mark);
    assert.equal(gone.attrs.from, 'alice@localhost/phone');
    await cluster.node(0).service.waitForLog((r) => r.msg === 'stream error sent' && r.condition === 'connection-timeout', DEADLINE_MS, 'connection-timeout');
  });
});
