import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, is, mutualContacts, rawSession } from '@vigil/testkit';

// A XEP-0198 resumption after the presence grace ended the session: the
// client keeps the presence view it had, so the contacts who went offline
// while it was away must be told to it again as unavailable (RFC 6121
// §4.3.2 probe answers, sent only for a restored session). alice speaks
// through a raw socket (so her 'h' is exact); bob and carol are stock clients.
const DEADLINE_MS = 20_000;
const GRACE_MS = 1500;
const SM = 'urn:xmpp:sm:3';
const BOB = 'bob@localhost/desk';
const CAROL = 'carol@localhost/laptop';

/** Stanzas the server sent since stream management was enabled: the 'h' that acknowledges them all. */
function stanzasSinceEnabled(received: string): number {
  const since = received.slice(received.indexOf('<enabled '));
  return [...since.matchAll(/<(?:presence|message|iq)[\s>/]/g)].length;
}

/** A <presence/> start tag from `from` of type `type` (attributes in any order). */
function presenceTag(from: string, type: string): RegExp {
  const f = from.replace(/[./]/g, '\\$&');
  return new RegExp(`<presence (?=[^>]*from='${f}')(?=[^>]*type='${type}')[^>]*>`);
}

describe('presence after a XEP-0198 resumption past the grace', () => {
  let cluster: Cluster;
  let bob: TestClient;
  let carol: TestClient | undefined;
  const raws: RawConnection[] = [];

  before(async () => {
    cluster = await Cluster.start({
      nodes: 2,
      env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_SM_PRESENCE_GRACE_MS: String(GRACE_MS), VIGIL_SM_RESUME_MS: '60000' },
    });
    await cluster.provision(
      ['alice', 'bob', 'carol'].map((username) => ({ username, password: 'pw' })),
      [...mutualContacts('alice', 'bob'), ...mutualContacts('alice', 'carol'), ...mutualContacts('bob', 'carol')],
    );
    bob = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'desk' });
    carol = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'carol', password: 'pw', resource: 'laptop' });
    const b = bob.mark();
    await bob.sendPresence();
    await carol.sendPresence();
    await bob.expectStanza(is.presenceFrom(CAROL), DEADLINE_MS, "carol's presence", b);
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bob?.stop();
    await carol?.stop();
    await cluster?.stop();
  });

  test('a contact who left while the session was ended is sent unavailable; one who stayed is not', async () => {
    const raw = await rawSession(cluster.node(0).port, 'alice', 'pw', undefined, DEADLINE_MS);
    raws.push(raw);
    raw.send(`<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`);
    await raw.waitFor(/id='bind-1'/, DEADLINE_MS);
    raw.send(`<enable xmlns='${SM}' resume='true'/>`);
    const enabled = await raw.waitFor(/<enabled [^>]*\/>/, DEADLINE_MS);
    const id = /<enabled [^>]*id='([^']+)'/.exec(enabled)?.[1];
    assert.ok(id, `no resumption id in ${enabled}`);
    const b = bob.mark();
    raw.send('<presence/>');
    // alice's view: bob and carol online.
    await raw.waitFor(/<presence [^>]*from='bob@localhost\/desk'/, DEADLINE_MS);
    await raw.waitFor(/<presence [^>]*from='carol@localhost\/laptop'/, DEADLINE_MS);
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone'), DEADLINE_MS, "alice's presence", b);
    const h = stanzasSinceEnabled(raw.received);

    // The connection dies without a word; after the grace her session ends in the cluster.
    raw.destroy();
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone', 'unavailable'), DEADLINE_MS, 'alice unavailable after the grace', b);
    // carol leaves while alice has no session: nothing of it can reach alice's stream.
    await carol?.stop();
    carol = undefined;
    await bob.expectStanza(is.presenceFrom(CAROL, 'unavailable'), DEADLINE_MS, 'carol unavailable', b);

    const again = await rawSession(cluster.node(0).port, 'alice', 'pw', undefined, DEADLINE_MS);
    raws.push(again);
    again.send(`<resume xmlns='${SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(/<resumed /, DEADLINE_MS);
    const afterResumed = (text: string) => text.slice(text.indexOf('<resumed '));
    // RFC 6121 §4.3.2: from the full JID of carol's last unavailable, which her owner remembers.
    await again.waitFor(new RegExp(`<resumed [^>]*/>[\\s\\S]*${presenceTag(CAROL, 'unavailable').source}`), DEADLINE_MS).catch((e: unknown) => {
      throw new Error(`no unavailable from carol after the resumption; alice got:\n${afterResumed(again.received)}`, { cause: e });
    });
    // bob stayed: his current presence, and no unavailable of his (his probe answer is one task of his owner).
    await again.waitFor(/<resumed [^>]*\/>[\s\S]*<presence (?=[^>]*from='bob@localhost\/desk')(?![^>]*type=)/, DEADLINE_MS);
    assert.doesNotMatch(afterResumed(again.received), presenceTag(BOB, 'unavailable'));
    assert.doesNotMatch(afterResumed(again.received), presenceTag('bob@localhost', 'unavailable'));
    again.send('</stream:stream>');
    await again.waitClosed(DEADLINE_MS);
  });
});
