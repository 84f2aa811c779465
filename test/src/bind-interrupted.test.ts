import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cluster as proto } from '@vigil/proto';
import { subjects } from '@vigil/cluster';
import { Cluster, rawSession, withDeadline } from '@vigil/testkit';

// A bind waits for the shard owner (the node asks it for the user's block
// list before it answers). A stream that closes during that wait, here
// because its client left, must not leave its session in the node's table
// when the answer comes: nothing else would ever end it. The authority is
// frozen (SIGSTOP) so the wait is long enough to leave in; the node's
// request timeout is raised well past it.
const DEADLINE_MS = 20_000;
const S = subjects('vigil');

describe('a stream that closes while its bind waits for the owner', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_ROSTER_REQUEST_TIMEOUT_MS: '60000', VIGIL_LOG_LEVEL: 'info' },
    });
    await cluster.provision([{ username: 'ivy', password: 'pw' }]);
  });

  after(async () => {
    cluster?.authority.signal('SIGCONT');
    await cluster?.stop();
  });

  test('leaves no session behind once the owner answers', async () => {
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
});
