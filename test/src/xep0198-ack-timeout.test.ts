import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, is, mutualContacts, rawSession, xml } from '@vigil/testkit';

// XEP-0198 ack timeout (VIGIL_SM_ACK_TIMEOUT_MS): a managed stream whose client
// does not answer the server's <r/> is declared lost like a client that does
// not answer a ping: <connection-timeout/>, and contacts are told it is gone.
const DEADLINE_MS = 20_000;
const ACK_TIMEOUT_MS = 1500;
/** The idle ping comes well after an ack timeout would have fired: a clock for the "still alive" test. */
const IDLE_PING_MS = 3 * ACK_TIMEOUT_MS;
const SM = 'urn:xmpp:sm:3';

describe('XEP-0198 ack timeout', () => {
  let cluster: Cluster;
  let bob: TestClient;
  const raws: RawConnection[] = [];
  const aliceJid = 'alice@localhost/phone';

  /** alice, bound, available, with stream management enabled (no resumption, so a lost session ends at once). */
  async function managedAlice(): Promise<RawConnection> {
    const raw = await rawSession(cluster.node(0).port, 'alice', 'pw', 'phone', DEADLINE_MS);
    raws.push(raw);
    raw.send(`<enable xmlns='${SM}'/>`);
    await raw.waitFor(/<enabled [^>]*\/>/, DEADLINE_MS);
    const b = bob.mark();
    raw.send('<presence/>');
    await bob.expectStanza(is.presenceFrom(aliceJid), DEADLINE_MS, "alice's presence", b);
    return raw;
  }

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      env: {
        VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true',
        VIGIL_SM_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS),
        VIGIL_CLIENT_IDLE_PING_MS: String(IDLE_PING_MS),
      },
    });
    await cluster.provision([{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }], mutualContacts('alice', 'bob'));
    bob = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'desk' });
    const m = bob.mark();
    await bob.sendPresence();
    await bob.expectStanza(is.presenceFrom(bob.jid), DEADLINE_MS, 'own presence', m);
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bob?.stop();
    await cluster?.stop();
  });

  test("a client that never answers the server's <r/> gets <connection-timeout/> and its contacts see it unavailable", async () => {
    const raw = await managedAlice();
    const b = bob.mark();
    await bob.send(xml('message', { to: aliceJid, type: 'chat', id: 'unanswered' }, xml('body', {}, 'are you there?')));
    // The server asked after its first burst; alice keeps reading but never sends <a/>.
    await raw.waitFor(/<enabled [\s\S]*<r xmlns='urn:xmpp:sm:3'\/>[\s\S]*id='unanswered'/, DEADLINE_MS);
    await raw.waitFor(/<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text [^>]*>no &lt;a\/&gt; within 1500 ms/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
    await bob.expectStanza(is.presenceFrom(aliceJid, 'unavailable'), DEADLINE_MS, 'unavailable after the ack timeout', b);
    await cluster.node(0).service.waitForLog((r) => r.msg === 'session closed' && r.reason === 'stream error connection-timeout', DEADLINE_MS, 'session closed');
  });

  test('a client that answers every <r/> is left alone past the ack timeout (until the idle ping)', async () => {
    const raw = await managedAlice();
    // alice answers each <r/> with the count of stanzas she received since <enabled/>.
    let answered = 0;
    const answer = (): void => {
      const since = raw.received.slice(raw.received.indexOf('<enabled '));
      const asked = [...since.matchAll(/<r xmlns='urn:xmpp:sm:3'\/>/g)].length;
      if (asked === answered) return;
      answered = asked;
      raw.send(`<a xmlns='${SM}' h='${[...since.matchAll(/<(?:presence|message|iq)[\s>/]/g)].length}'/>`);
    };
    raw.socket.on('data', answer);
    answer();
    await bob.send(xml('message', { to: aliceJid, type: 'chat', id: 'answered' }, xml('body', {}, 'hello')));
    await raw.waitFor(/id='answered'/, DEADLINE_MS);
    // The server's idle ping comes 3 ack timeouts after alice's last input; an unanswered <r/> would have ended the stream by then.
    await raw.waitFor(/<iq [^>]*id='vigil-ping-1'/, DEADLINE_MS);
    assert.ok(answered >= 1, 'the server asked for an ack');
    assert.doesNotMatch(raw.received, /connection-timeout|undefined-condition/);
    assert.equal(raw.isClosed, false);
    raw.socket.off('data', answer);
    raw.send('</stream:stream>');
    await raw.waitClosed(DEADLINE_MS);
  });
});
