import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveScramCredential, ScramServerSession, type ScramHash } from '@vigil/xmpp';
import { ScramClient, ScramClientError, scramKeyCacheStats, type ScramMechanism } from './scram-client.js';

describe('SCRAM client (RFC 5802, RFC 7677)', () => {
  test('SCRAM-SHA-1 reproduces the RFC 5802 §5 example exchange', async () => {
    const c = new ScramClient('SCRAM-SHA-1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
    assert.equal(c.clientFirst(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    const final = await c.clientFinal('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
    assert.equal(final, 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
    c.verifyServerFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
  });

  test('SCRAM-SHA-256 reproduces the RFC 7677 §3 example exchange', async () => {
    const c = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    const final = await c.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    assert.equal(final, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    c.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  for (const [mechanism, hash] of [['SCRAM-SHA-1', 'sha1'], ['SCRAM-SHA-256', 'sha256']] as const satisfies readonly (readonly [ScramMechanism, ScramHash])[]) {
    test(`${mechanism}: Vigil's server accepts the proof, and a second login reuses the derived keys`, async () => {
      const credential = await deriveScramCredential('s3cret,=pw', hash, 4096);
      for (let round = 0; round < 2; round++) {
        const before = scramKeyCacheStats();
        const server = new ScramServerSession(hash, () => Promise.resolve(credential));
        const client = new ScramClient(mechanism, 'al,ice=', 's3cret,=pw');
        const serverFirst = await server.start(Buffer.from(client.clientFirst()));
        const clientFinal = await client.clientFinal(serverFirst.toString());
        client.verifyServerFinal(server.finish(Buffer.from(clientFinal)).toString());
        assert.equal(server.username, 'al,ice=');
        const after = scramKeyCacheStats();
        assert.deepEqual([after.derivations - before.derivations, after.hits - before.hits], round === 0 ? [1, 0] : [0, 1]);
      }
    });
  }

  test('a server that cannot prove it knows the password is refused', async () => {
    const c = new ScramClient('SCRAM-SHA-1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
    await c.clientFinal('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
    assert.throws(() => c.verifyServerFinal('v=AAAAAAAAAAAAAAAAAAAAAAAAAAA='), ScramClientError);
    assert.throws(() => c.verifyServerFinal('e=invalid-proof'), ScramClientError);
  });

  test('a server nonce that does not extend the client nonce is refused', async () => {
    const c = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', 'abc');
    await assert.rejects(c.clientFinal('r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096'), ScramClientError);
  });
});
