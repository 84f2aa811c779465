import { after, before, describe, test } from 'node:test';
import { Cluster, RawConnection, clientStreamHeader } from '@vigil/testkit';

// Failed-authentication counting and temporary lockout, per account and per
// client address. Other loopback addresses (127.0.0.x) stand for other hosts.
const DEADLINE_MS = 10_000;
const plain = (user: string, password: string) => Buffer.from(`\u0000${user}\u0000${password}`).toString('base64');

async function attempt(port: number, from: string, user: string, password: string): Promise<RawConnection> {
  const raw = await RawConnection.open(port, '127.0.0.1', from);
  raw.send(clientStreamHeader('localhost'));
  await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
  raw.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain(user, password)}</auth>`);
  return raw;
}

describe('failed authentication lockout', () => {
  let cluster: Cluster;
  let port: number;

  before(async () => {
    cluster = await Cluster.start({
      nodes: 1,
      env: { VIGIL_ALLOW_PLAIN_WITHOUT_TLS: 'true', VIGIL_AUTH_MAX_FAILURES: '3', VIGIL_AUTH_FAILURE_WINDOW_MS: '60000', VIGIL_AUTH_LOCKOUT_MS: '60000' },
    });
    await cluster.provision([{ username: 'dave', password: 'right' }, { username: 'erin', password: 'right' }]);
    port = cluster.node(0).port;
  });

  after(async () => {
    await cluster?.stop();
  });

  test('an account guessed at from several hosts is locked: even the right password is refused for a while', async () => {
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const raw = await attempt(port, host, 'dave', 'wrong');
      await raw.waitFor(/<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized\/>/, DEADLINE_MS);
      raw.destroy();
    }
    const raw = await attempt(port, '127.0.0.5', 'dave', 'right');
    await raw.waitFor(/<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><account-disabled\/>/, DEADLINE_MS);
    raw.destroy();
    // Another account from a clean host is unaffected.
    const other = await attempt(port, '127.0.0.6', 'erin', 'right');
    await other.waitFor(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/, DEADLINE_MS);
    other.destroy();
  });

  test('a host that sprays names is locked out whatever account it tries next', async () => {
    for (const name of ['x1', 'x2', 'x3']) {
      const raw = await attempt(port, '127.0.0.9', name, 'guess');
      await raw.waitFor(/<not-authorized\/>/, DEADLINE_MS);
      raw.destroy();
    }
    const raw = await attempt(port, '127.0.0.9', 'erin', 'right');
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });
});
