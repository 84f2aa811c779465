import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, RawConnection, TestClient, is, mutualContacts, rawSession } from '@vigil/testkit';

// A XEP-0198 resumption after the presence grace ended the session: the
// client keeps the presence view it had, so the contacts who went offline
// while it was away must be told to it again as unavailable (RFC 6121
// §4.3.2 probe answers, sent only for a restored session). alice speaks
// through a raw socket (so her 'h' is exact); bob and carol are stock clients,
// each with two resources: both of carol's leave while alice is away, one of
// bob's (alice must be told of each resource, not only a contact's last).
const DEADLINE_MS = 20_000;
const GRACE_MS = 1500;
const SM = 'urn:xmpp:sm:3';
const BOB = 'bob@localhost/desk';
const BOB_PHONE = 'bob@localhost/phone';
const CAROL = 'carol@localhost/laptop';
const CAROL_TABLET = 'carol@localhost/tablet';

/** Stanzas the server sent since stream management was enabled: the 'h' that acknowledges them all. */
function stanzasSinceEnabled(received: string): number {
  const since = received.slice(received.indexOf('<enabled '));
  return [...since.matchAll(/<(?:presence|message|iq)[\s>/]/g)].length;
}

/** Asks for a resumable stream (XEP-0198 §5) on a bound raw connection; the resumption id. */
async function enableResumption(raw: RawConnection): Promise<string> {
  raw.send(`<enable xmlns='${SM}' resume='true'/>`);
  const enabled = await raw.waitFor(/<enabled [^>]*\/>/, DEADLINE_MS);
  const id = /<enabled [^>]*id='([^']+)'/.exec(enabled)?.[1];
  assert.ok(id, `no resumption id in ${enabled}`);
  return id;
}

/** A <presence/> start tag from `from` of type `type` (attributes in any order). */
function presenceTag(from: string, type: string): RegExp {
  const f = from.replace(/[./]/g, '\\$&');
  return new RegExp(`<presence (?=[^>]*from='${f}')(?=[^>]*type='${type}')[^>]*>`);
}

/** An available <presence> start tag from `from` (no type). */
function availableTag(from: string): RegExp {
  return new RegExp(`<presence (?=[^>]*from='${from.replace(/[./]/g, '\\$&')}')(?![^>]*type=)[^>]*>`);
}

describe('presence after a XEP-0198 resumption past the grace', () => {
  let cluster: Cluster;
  let bob: TestClient;
  let carol: TestClient | undefined;
  let bobPhone: TestClient | undefined;
  let carolTablet: TestClient | undefined;
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
    bobPhone = await TestClient.connect({ port: cluster.node(0).port, domain: 'localhost', username: 'bob', password: 'pw', resource: 'phone' });
    carolTablet = await TestClient.connect({ port: cluster.node(1).port, domain: 'localhost', username: 'carol', password: 'pw', resource: 'tablet' });
    const b = bob.mark();
    await bob.sendPresence();
    await carol.sendPresence();
    await bobPhone.sendPresence();
    await carolTablet.sendPresence();
    await bob.expectStanza(is.presenceFrom(CAROL), DEADLINE_MS, "carol's presence", b);
    await bob.expectStanza(is.presenceFrom(CAROL_TABLET), DEADLINE_MS, "carol's tablet's presence", b);
    await bob.expectStanza(is.presenceFrom(BOB_PHONE), DEADLINE_MS, "bob's phone's presence", b);
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await bob?.stop();
    await carol?.stop();
    await bobPhone?.stop();
    await carolTablet?.stop();
    await cluster?.stop();
  });

  test('each resource that left while the session was ended is sent unavailable, beside one that stayed too; one that stayed is not', async () => {
    const raw = await rawSession(cluster.node(0).port, 'alice', 'pw', undefined, DEADLINE_MS);
    raws.push(raw);
    raw.send(`<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`);
    await raw.waitFor(/id='bind-1'/, DEADLINE_MS);
    const id = await enableResumption(raw);
    const b = bob.mark();
    raw.send('<presence/>');
    // alice's view: bob and carol online, two resources each.
    for (const from of [BOB, BOB_PHONE, CAROL, CAROL_TABLET]) await raw.waitFor(availableTag(from), DEADLINE_MS);
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone'), DEADLINE_MS, "alice's presence", b);
    const h = stanzasSinceEnabled(raw.received);

    // The connection dies without a word; after the grace her session ends in the cluster.
    raw.destroy();
    await bob.expectStanza(is.presenceFrom('alice@localhost/phone', 'unavailable'), DEADLINE_MS, 'alice unavailable after the grace', b);
    // carol leaves, and bob's phone, while alice has no session: nothing of it can reach alice's stream.
    await carol?.stop();
    carol = undefined;
    await carolTablet?.stop();
    carolTablet = undefined;
    await bobPhone?.stop();
    bobPhone = undefined;
    await bob.expectStanza(is.presenceFrom(CAROL, 'unavailable'), DEADLINE_MS, 'carol unavailable', b);
    await bob.expectStanza(is.presenceFrom(CAROL_TABLET, 'unavailable'), DEADLINE_MS, "carol's tablet unavailable", b);
    await bob.expectStanza(is.presenceFrom(BOB_PHONE, 'unavailable'), DEADLINE_MS, "bob's phone unavailable", b);

    const again = await rawSession(cluster.node(0).port, 'alice', 'pw', undefined, DEADLINE_MS);
    raws.push(again);
    again.send(`<resume xmlns='${SM}' previd='${id}' h='${h}'/>`);
    await again.waitFor(/<resumed /, DEADLINE_MS);
    const afterResumed = (text: string) => text.slice(text.indexOf('<resumed '));
    // RFC 6121 §4.3.2: from the full JID of each resource that left, which its owner remembers (its last few).
    for (const gone of [CAROL, CAROL_TABLET, BOB_PHONE]) {
      await again.waitFor(new RegExp(`<resumed [^>]*/>[\\s\\S]*${presenceTag(gone, 'unavailable').source}`), DEADLINE_MS).catch((e: unknown) => {
        throw new Error(`no unavailable from ${gone} after the resumption; alice got:\n${afterResumed(again.received)}`, { cause: e });
      });
    }
    // bob stayed: his current presence, and no unavailable of his (his probe answer is one task of his owner).
    await again.waitFor(/<resumed [^>]*\/>[\s\S]*<presence (?=[^>]*from='bob@localhost\/desk')(?![^>]*type=)/, DEADLINE_MS);
    assert.doesNotMatch(afterResumed(again.received), presenceTag(BOB, 'unavailable'));
    assert.doesNotMatch(afterResumed(again.received), presenceTag('bob@localhost', 'unavailable'));
    again.send('</stream:stream>');
    await again.waitClosed(DEADLINE_MS);
  });

  test("a resumption past the grace whose 'h' is beyond what was sent is refused and leaves no session behind", async () => {
    const raw = await rawSession(cluster.node(0).port, 'alice', 'pw', 'pad', DEADLINE_MS);
    raws.push(raw);
    const id = await enableResumption(raw);
    const b = bob.mark();
    raw.send('<presence/>');
    await bob.expectStanza(is.presenceFrom('alice@localhost/pad'), DEADLINE_MS, "alice's presence", b);
    const h = stanzasSinceEnabled(raw.received);
    raw.destroy();
    await bob.expectStanza(is.presenceFrom('alice@localhost/pad', 'unavailable'), DEADLINE_MS, 'alice unavailable after the grace', b);

    const bad = await rawSession(cluster.node(0).port, 'alice', 'pw', undefined, DEADLINE_MS);
    raws.push(bad);
    bad.send(`<resume xmlns='${SM}' previd='${id}' h='${h + 50}'/>`);
    await bad.waitFor(/<undefined-condition [^>]*\/>[\s\S]*handled-count-too-high/, DEADLINE_MS);
    await bad.waitClosed(DEADLINE_MS);
    // Nothing holds alice/pad on the node: binding it again works (a session left behind would make it fail).
    const fresh = await rawSession(cluster.node(0).port, 'alice', 'pw', 'pad', DEADLINE_MS);
    raws.push(fresh);
    assert.match(fresh.received, /<jid>alice@localhost\/pad<\/jid>/);
  });
});
