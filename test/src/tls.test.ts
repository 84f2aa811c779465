import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import {
  Cluster, RawConnection, TestClient, clientStreamHeader, createSelfSignedCert, withDeadline,
  type SelfSignedCert, type Stanza,
} from '@vigil/testkit';

// Transport security (RFC 6120 §5, XEP-0368, RFC 7590) through real TLS handshakes and @xmpp/client.
const DEADLINE_MS = 10_000;
const DOMAIN = 'localhost';
const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const USERS = [{ username: 'alice', password: 'alice-secret' }, { username: 'bob', password: 'bob-secret' }];

function mechanisms(features: Stanza | undefined): string[] {
  return (features?.getChild('mechanisms', NS_SASL)?.getChildren('mechanism') ?? []).map((m) => m.getText());
}

/** A TLS handshake as a client, resolving with the socket or rejecting with the handshake error. */
async function handshake(options: ConnectionOptions): Promise<TLSSocket> {
  const socket = tlsConnect({ servername: DOMAIN, ...options });
  try {
    await withDeadline(once(socket, 'secureConnect'), DEADLINE_MS, 'a TLS handshake');
    return socket;
  } catch (e) {
    socket.destroy();
    throw e;
  }
}

/** Resolves once the text received on `socket` so far matches `pattern`. */
function receivedMatch(socket: Socket | TLSSocket, pattern: RegExp, what: string): Promise<string> {
  let received = '';
  return withDeadline(
    new Promise<string>((resolve) => {
      const onData = (d: Buffer): void => {
        received += d.toString('utf8');
        if (!pattern.test(received)) return;
        socket.removeListener('data', onData);
        resolve(received);
      };
      socket.on('data', onData);
    }),
    DEADLINE_MS,
    what,
  );
}

/** A plain TCP connection that has sent `<starttls/>` (then `afterStartTls`, in the same write) and read `<proceed/>`. */
async function proceedToTls(port: number, afterStartTls = ''): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  await withDeadline(once(socket, 'connect'), DEADLINE_MS, 'a TCP connection');
  const features = receivedMatch(socket, /<\/stream:features>/, 'stream features');
  socket.write(clientStreamHeader(DOMAIN));
  assert.match(await features, /<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/);
  const proceed = receivedMatch(socket, /<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>/, '<proceed/>');
  socket.write(`<starttls xmlns='${NS_TLS}'/>${afterStartTls}`);
  await proceed;
  return socket;
}

/** A TLS client that would speak TLS 1.1 if the server let it (OpenSSL 3 refuses 1.1 at the default security level). */
const TLS_1_1_CLIENT: ConnectionOptions = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
/** A TLS 1.2 client with only CBC (non-AEAD) ciphers for the server's ECDSA key. */
const CBC_ONLY_CLIENT: ConnectionOptions = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA' };

describe('STARTTLS offered, direct TLS and wss with one certificate', () => {
  let cert: SelfSignedCert;
  let cluster: Cluster;
  let port: number;
  let tlsPort: number;

  before(async () => {
    cert = await createSelfSignedCert({ domain: DOMAIN });
    cluster = await Cluster.start({
      nodes: 1,
      tls: { certFile: cert.certFile, keyFile: cert.keyFile, required: false },
      directTls: true,
      webSocket: { secure: true },
    });
    await cluster.provision(USERS);
    port = cluster.node(0).port;
    tlsPort = cluster.node(0).tlsPort ?? 0;
  });

  after(async () => {
    await cluster?.stop();
    await cert?.remove();
  });

  test('a client logs in over STARTTLS, and PLAIN is offered only once the stream is encrypted', async () => {
    const alice = await TestClient.connect({ port, domain: DOMAIN, username: 'alice', password: 'alice-secret', ca: cert.certPem, resource: 'starttls' });
    try {
      const [plain, encrypted] = alice.features;
      assert.ok(plain?.getChild('starttls', NS_TLS), 'STARTTLS offered on the plain stream');
      assert.equal(plain?.getChild('starttls', NS_TLS)?.getChild('required'), undefined, 'not required here');
      assert.deepEqual(mechanisms(plain), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
      assert.equal(encrypted?.getChild('starttls', NS_TLS), undefined, 'no second STARTTLS');
      assert.deepEqual(mechanisms(encrypted), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
      assert.match(alice.tls?.protocol ?? '', /^TLSv1\.[23]$/);
      assert.equal(alice.tls?.fingerprint256, cert.fingerprint256);
      await alice.rosterGet();
    } finally {
      await alice.stop();
    }
  });

  test('SASL PLAIN works after STARTTLS', async () => {
    const alice = await TestClient.connect({ port, domain: DOMAIN, username: 'alice', password: 'alice-secret', ca: cert.certPem, mechanism: 'PLAIN', resource: 'plain' });
    assert.equal(alice.tls?.fingerprint256, cert.fingerprint256);
    await alice.stop();
  });

  test('SASL PLAIN is neither offered nor accepted on a stream without TLS', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader(DOMAIN));
    const features = await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    assert.doesNotMatch(features, /<mechanism>PLAIN<\/mechanism>/);
    raw.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${Buffer.from('\0alice\0alice-secret').toString('base64')}</auth>`);
    await raw.waitFor(/<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism\/>/, DEADLINE_MS);
    raw.destroy();
  });

  test('bytes sent in the clear after <starttls/> are never processed', async () => {
    // The STARTTLS command-injection attack: a stanza queued behind <starttls/> must not reach the stream.
    const socket = await proceedToTls(port, `<message to='bob@${DOMAIN}'><body>injected</body></message>`);
    const secure = await handshake({ socket, ca: cert.certPem });
    const features = receivedMatch(secure, /<\/stream:features>/, 'features on the encrypted stream');
    secure.write(clientStreamHeader(DOMAIN));
    const received = await features;
    assert.doesNotMatch(received, /stream:error/);
    assert.match(received, /<mechanism>PLAIN<\/mechanism>/);
    secure.destroy();
  });

  test('a client logs in over direct TLS (XEP-0368)', async () => {
    const bob = await TestClient.connect({ service: `xmpps://127.0.0.1:${tlsPort}`, domain: DOMAIN, username: 'bob', password: 'bob-secret', ca: cert.certPem });
    try {
      assert.equal(bob.features[0]?.getChild('starttls', NS_TLS), undefined, 'no STARTTLS inside TLS');
      assert.deepEqual(mechanisms(bob.features[0]), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
      assert.equal(bob.tls?.fingerprint256, cert.fingerprint256);
      await bob.rosterGet();
    } finally {
      await bob.stop();
    }
  });

  test('a client logs in over wss with the same certificate, and PLAIN is offered', async () => {
    const wsUrl = cluster.node(0).wsUrl ?? '';
    assert.match(wsUrl, /^wss:/);
    const alice = await TestClient.connect({ service: wsUrl, domain: DOMAIN, username: 'alice', password: 'alice-secret', ca: cert.certPem, mechanism: 'PLAIN', resource: 'wss' });
    assert.deepEqual(mechanisms(alice.features[0]), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    await alice.rosterGet();
    await alice.stop();
  });

  test('a TLS 1.1 client is refused, on the direct TLS port and after STARTTLS', async () => {
    await assert.rejects(handshake({ port: tlsPort, host: '127.0.0.1', ca: cert.certPem, ...TLS_1_1_CLIENT }), /alert protocol version/);
    const socket = await proceedToTls(port);
    await assert.rejects(handshake({ socket, ca: cert.certPem, ...TLS_1_1_CLIENT }), /alert protocol version/);
  });

  test('a TLS 1.2 client with only CBC ciphers is refused', async () => {
    await assert.rejects(handshake({ port: tlsPort, host: '127.0.0.1', ca: cert.certPem, ...CBC_ONLY_CLIENT }), /alert handshake failure/);
  });

  test('a TLS 1.2 client with an AEAD cipher is accepted', async () => {
    const socket = await handshake({ port: tlsPort, host: '127.0.0.1', ca: cert.certPem, maxVersion: 'TLSv1.2' });
    assert.equal(socket.getProtocol(), 'TLSv1.2');
    assert.match(socket.getCipher().name, /GCM|CHACHA20/);
    socket.destroy();
  });
});

describe('STARTTLS required (the default once a certificate is configured)', () => {
  let cert: SelfSignedCert;
  let cluster: Cluster;
  let port: number;

  before(async () => {
    cert = await createSelfSignedCert({ domain: DOMAIN });
    cluster = await Cluster.start({ nodes: 1, tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    await cluster.provision(USERS);
    port = cluster.node(0).port;
  });

  after(async () => {
    await cluster?.stop();
    await cert?.remove();
  });

  test('the first features offer <starttls><required/></starttls> and nothing else', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader(DOMAIN));
    const out = await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    assert.match(out, new RegExp(`<stream:features><starttls xmlns='${NS_TLS}'><required/></starttls></stream:features>`));
    raw.destroy();
  });

  test('SASL before STARTTLS ends the stream with <policy-violation/>', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader(DOMAIN));
    await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    raw.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${Buffer.from('n,,n=alice,r=abcdef').toString('base64')}</auth>`);
    await raw.waitFor(/<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/><text[^>]*>Use of STARTTLS required<\/text>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a stanza before STARTTLS ends the stream with <not-authorized/>', async () => {
    const raw = await RawConnection.open(port);
    raw.send(clientStreamHeader(DOMAIN));
    await raw.waitFor(/<\/stream:features>/, DEADLINE_MS);
    raw.send(`<message to='bob@${DOMAIN}'><body>in the clear</body></message>`);
    await raw.waitFor(/<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/, DEADLINE_MS);
    await raw.waitClosed(DEADLINE_MS);
  });

  test('a client that negotiates STARTTLS logs in', async () => {
    const alice = await TestClient.connect({ port, domain: DOMAIN, username: 'alice', password: 'alice-secret', ca: cert.certPem });
    assert.ok(alice.features[0]?.getChild('starttls', NS_TLS)?.getChild('required'));
    assert.deepEqual(mechanisms(alice.features[0]), []);
    assert.equal(alice.tls?.fingerprint256, cert.fingerprint256);
    await alice.rosterGet();
    await alice.stop();
  });
});

describe('certificate reload on SIGHUP', () => {
  let first: SelfSignedCert;
  let second: SelfSignedCert;
  let cluster: Cluster;

  before(async () => {
    first = await createSelfSignedCert({ domain: DOMAIN });
    second = await createSelfSignedCert({ domain: DOMAIN });
    cluster = await Cluster.start({ nodes: 1, tls: { certFile: first.certFile, keyFile: first.keyFile, required: false }, directTls: true });
    await cluster.provision(USERS);
  });

  after(async () => {
    await cluster?.stop();
    await first?.remove();
    await second?.remove();
  });

  test('after SIGHUP new connections get the replaced certificate; encrypted streams carry on', async () => {
    const node = cluster.node(0);
    const before = await TestClient.connect({ port: node.port, domain: DOMAIN, username: 'alice', password: 'alice-secret', ca: first.certPem });
    assert.equal(before.tls?.fingerprint256, first.fingerprint256);

    await copyFile(second.certFile, first.certFile);
    await copyFile(second.keyFile, first.keyFile);
    node.service.signal('SIGHUP');
    await node.service.waitForLog((r) => r.msg === 'tls certificate reloaded' && r.fingerprint256 === second.fingerprint256, DEADLINE_MS, 'the reload');

    const direct = await handshake({ port: node.tlsPort ?? 0, host: '127.0.0.1', ca: second.certPem });
    assert.equal(direct.getPeerCertificate().fingerprint256, second.fingerprint256);
    direct.destroy();
    const after = await TestClient.connect({ port: node.port, domain: DOMAIN, username: 'bob', password: 'bob-secret', ca: second.certPem });
    assert.equal(after.tls?.fingerprint256, second.fingerprint256);
    // The stream encrypted before the reload keeps working.
    await before.rosterGet();
    await before.stop();
    await after.stop();
  });
});
