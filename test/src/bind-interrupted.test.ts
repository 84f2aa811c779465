import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata } from '@grpc/grpc-js';
import { api, cluster as proto } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import { Cluster, rawSession, withDeadline, type GrpcAccess } from '@vigil/testkit';

// A bind waits for the shard owner (the node asks it for the user's block
// list before it answers). A stream that closes during that wait, here
// because its client left, must not leave its session in the node's table
// when the answer comes: nothing else would ever end it. The authority is
// frozen (SIGSTOP) so the wait is long enough to leave in; the node's
// request timeout is raised well past it. And a stream that authenticated
// before its account was deleted cannot bind after: the owner refuses the
// bind's block-list read, and the node ends the stream with not-authorized.
const DEADLINE_MS = 20_000;
const S = subjects('vigil');

describe('binding, and the owner it waits for', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      grpc: true,
      env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_ROSTER_REQUEST_TIMEOUT_MS: '60000', VIGIL_LOG_LEVEL: 'info' },
    });
    await cluster.provision([{ username: 'ivy', password: 'pw' }, { username: 'jay', password: 'pw' }]);
  });

  after(async () => {
    cluster?.authority.signal('SIGCONT');
    await cluster?.stop();
  });

  test('a stream that closes while its bind waits for the owner leaves no session behind once the owner answers', async () => {
    const node = cluster.node(0).service;
    const raw = await rawSession(cluster.node(0).port, 'ivy', 'pw');
    const nc = await cluster.connection();
    let asked: () => void = () => undefined;
    const blockListAsked = new Promise<void>((resolve) => (asked = resolve));
    const sub = nc.subscribe(S.allShards('iq'), {
      callback: (_e, m) => {
        if (proto.IqRequest.decode(m.data).typed?.$case === 'blockListGet') asked();
      },
    });
    await nc.flush();
    cluster.authority.signal('SIGSTOP');
    try {
      raw.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>gone</resource></bind></iq>`);
      // The node has added the session and waits for the frozen owner.
      await withDeadline(blockListAsked, DEADLINE_MS, 'the bind asking the owner for the block list');
      raw.destroy();
      await node.waitForLog((r) => r.msg === 'stream closed after authentication, before binding' && r.user === 'ivy', DEADLINE_MS, 'the stream closed');
    } finally {
      sub.unsubscribe();
      cluster.authority.signal('SIGCONT');
    }
    const closed = await node.waitForLog((r) => r.msg === 'session closed' && r.user === 'ivy@localhost/gone', DEADLINE_MS, 'the session ended once the bind completed');
    assert.equal(closed.reason, 'stream closed while binding');
  });

  test('a second bind of the same resource while the first still waits for the owner replaces it', async () => {
    const node = cluster.node(0).service;
    const first = await rawSession(cluster.node(0).port, 'ivy', 'pw');
    const second = await rawSession(cluster.node(0).port, 'ivy', 'pw');
    const nc = await cluster.connection();
    let asks = 0;
    let asked: () => void = () => undefined;
    const firstAsked = new Promise<void>((resolve) => (asked = resolve));
    const sub = nc.subscribe(S.allShards('iq'), {
      callback: (_e, m) => {
        if (proto.IqRequest.decode(m.data).typed?.$case === 'blockListGet' && ++asks === 1) asked();
      },
    });
    await nc.flush();
    cluster.authority.signal('SIGSTOP');
    try {
      first.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>dup</resource></bind></iq>`);
      await withDeadline(firstAsked, DEADLINE_MS, 'the first bind asking the owner');
      second.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>dup</resource></bind></iq>`);
      // The newer one wins: the first stream is told <conflict/> at once, while its bind still waits.
      await first.waitFor(/<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    } finally {
      sub.unsubscribe();
      cluster.authority.signal('SIGCONT');
    }
    await second.waitFor(/<jid>ivy@localhost\/dup<\/jid>/, DEADLINE_MS);
    await node.waitForLog((r) => r.msg === 'session closed' && r.user === 'ivy@localhost/dup' && r.reason === 'replaced while it waited for the owner', DEADLINE_MS, 'the first session ended');
    // The second one is the node's session for the resource, and works: its presence reaches the owner and comes back.
    second.send('<presence/>');
    await second.waitFor(/<presence (?=[^>]*from='ivy@localhost\/dup')(?![^>]*type=)[^>]*\/>/, DEADLINE_MS);
    second.destroy();
  });

  test('a stream that authenticated before its account was deleted cannot bind after it: not-authorized', async () => {
    const raw = await rawSession(cluster.node(0).port, 'jay', 'pw');
    const grpc = cluster.grpc as GrpcAccess;
    const accounts = new api.account.AccountServiceClient(grpc.address(0), credentials.createInsecure());
    const auth = new Metadata();
    auth.set('authorization', `Bearer ${grpc.adminToken}`);
    try {
      const deleted = await new Promise<api.account.DeleteAccountResponse>((resolve, reject) => {
        accounts.deleteAccount({ username: 'jay' }, auth, { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res)));
      });
      assert.equal(deleted.sessionsEnded, 0, 'an authenticated stream that has not bound is no session yet');
    } finally {
      accounts.close();
    }
    raw.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>late</resource></bind></iq>`);
    await raw.waitFor(/<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
    assert.doesNotMatch(raw.received, /<jid>/, 'never bound');
  });
});
