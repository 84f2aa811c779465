import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SaslFailure } from './sasl.js';
import { deriveScramCredential, type ScramCredential, type ScramHash } from './scram-credential.js';
import { ScramServerSession, type CredentialLookup } from './scram.js';
import { scramClientFinal } from './testing-helpers.js';

// RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil", 4096 iterations.
const VECTORS = [
  {
    rfc: 'RFC 5802 SCRAM-SHA-1',
    hash: 'sha1',
    salt: 'QSXCR+Q6sek8bf92',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverNonce: '3rfcNHYJY1ZVvWVs7j',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    rfc: 'RFC 7677 SCRAM-SHA-256',
    hash: 'sha256',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal:
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
] as const;

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

function lookupOf(users: Record<string, ScramCredential>): CredentialLookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = (username: string): Promise<ScramCredential | undefined> => {
    asked.push(username);
    return Promise.resolve(users[username]);
  };
  return Object.assign(lookup, { asked });
}

function isFailure(condition: SaslFailure['condition']): (error: unknown) => boolean {
  return (error: unknown) => error instanceof SaslFailure && error.condition === condition;
}

describe('SCRAM test vectors', () => {
  for (const v of VECTORS) {
    test(`the ${v.rfc} exchange produces the exact server messages from the RFC`, async () => {
      const cred = await deriveScramCredential('pencil', v.hash, 4096, Buffer.from(v.salt, 'base64'));
      const session = new ScramServerSession(v.hash, lookupOf({ user: cred }), 18, { serverNonce: v.serverNonce });
      assert.equal((await session.start(buf(v.clientFirst))).toString(), v.serverFirst);
      assert.equal(session.username, undefined);
      assert.equal(session.finish(buf(v.clientFinal)).toString(), v.serverFinal);
      assert.equal(session.username, 'user');
    });
  }
});

// Low iteration counts keep the rest of the suite fast.
const ITERATIONS = 16;

async function exchange(
  hash: ScramHash,
  stored: Record<string, ScramCredential>,
  username: string,
  password: string,
): Promise<{ session: ScramServerSession; serverFirst: string; clientFinal: string }> {
  const session = new ScramServerSession(hash, lookupOf(stored));
  const bare = `n=${username},r=clientnonce123`;
  const serverFirst = (await session.start(buf(`n,,${bare}`))).toString();
  return { session, serverFirst, clientFinal: scramClientFinal(hash, password, bare, serverFirst) };
}

describe('ScramServerSession', () => {
  for (const hash of ['sha1', 'sha256'] as const) {
    test(`${hash}: the right password authenticates and the wrong one is not-authorized`, async () => {
      const users = { alice: await deriveScramCredential('correct horse', hash, ITERATIONS) };
      const good = await exchange(hash, users, 'alice', 'correct horse');
      assert.match(good.session.finish(buf(good.clientFinal)).toString(), /^v=[A-Za-z0-9+/]+=*$/);
      assert.equal(good.session.username, 'alice');

      const bad = await exchange(hash, users, 'alice', 'wrong horse');
      assert.throws(() => bad.session.finish(buf(bad.clientFinal)), isFailure('not-authorized'));
      assert.equal(bad.session.username, undefined);
    });
  }

  test('an unknown user gets a plausible, stable server-first and fails only at finish', async () => {
    const users = { alice: await deriveScramCredential('pw', 'sha256', ITERATIONS) };
    const first = await exchange('sha256', users, 'mallory', 'pw');
    const again = await exchange('sha256', users, 'mallory', 'pw');
    const other = await exchange('sha256', users, 'trent', 'pw');
    const shape = /^r=clientnonce123[A-Za-z0-9+/=]{24},s=([A-Za-z0-9+/=]{24}),i=4096$/;
    const salt = shape.exec(first.serverFirst)?.[1];
    assert.ok(salt, first.serverFirst);
    assert.equal(shape.exec(again.serverFirst)?.[1], salt, 'decoy salt is stable per user');
    assert.notEqual(shape.exec(other.serverFirst)?.[1], salt, 'decoy salt differs between users');
    assert.throws(() => first.session.finish(buf(first.clientFinal)), isFailure('not-authorized'));
  });

  test('a credential stored for another hash behaves like an unknown user', async () => {
    const users = { alice: await deriveScramCredential('pw', 'sha1', ITERATIONS) };
    const attempt = await exchange('sha256', users, 'alice', 'pw');
    assert.throws(() => attempt.session.finish(buf(attempt.clientFinal)), isFailure('not-authorized'));
  });

  test('saslname escapes =2C and =3D are decoded before lookup', async () => {
    const name = 'we,ird=name';
    const users = { [name]: await deriveScramCredential('pw', 'sha256', ITERATIONS) };
    const attempt = await exchange('sha256', users, 'we=2Cird=3Dname', 'pw');
    attempt.session.finish(buf(attempt.clientFinal));
    assert.equal(attempt.session.username, name);
  });

  test('an authzid equal to the username and the "y" flag are accepted', async () => {
    const users = { alice: await deriveScramCredential('pw', 'sha1', ITERATIONS) };
    const session = new ScramServerSession('sha1', lookupOf(users));
    const serverFirst = (await session.start(buf('y,a=alice,n=alice,r=abc'))).toString();
    session.finish(buf(scramClientFinal('sha1', 'pw', 'n=alice,r=abc', serverFirst, 'y,a=alice,')));
    assert.equal(session.username, 'alice');
  });

  test('a lookup failure is a temporary-auth-failure', async () => {
    const session = new ScramServerSession('sha256', () => Promise.reject(new Error('KV unavailable')));
    await assert.rejects(session.start(buf('n,,n=alice,r=abc')), isFailure('temporary-auth-failure'));
  });

  const badFirst: [string, string | Buffer, SaslFailure['condition']][] = [
    ['a channel binding request (p=)', 'p=tls-unique,,n=alice,r=abc', 'malformed-request'],
    ['an unknown channel binding flag', 'x,,n=alice,r=abc', 'malformed-request'],
    ['an authzid for someone else', 'n,a=bob,n=alice,r=abc', 'invalid-authzid'],
    ['a missing GS2 header', 'n=alice,r=abc', 'malformed-request'],
    ['a mandatory extension', 'n,,m=ext,n=alice,r=abc', 'malformed-request'],
    ['a bad "=" escape in the username', 'n,,n=al=41ice,r=abc', 'malformed-request'],
    ['an empty username', 'n,,n=,r=abc', 'malformed-request'],
    ['a missing nonce', 'n,,n=alice', 'malformed-request'],
    ['a nonce with a non-printable character', 'n,,n=alice,r=a\u00e9b', 'malformed-request'],
    ['ill-formed UTF-8', Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff]), 'incorrect-encoding'],
  ];
  for (const [what, message, condition] of badFirst) {
    test(`a client-first-message with ${what} fails with ${condition}`, async () => {
      const lookup = lookupOf({});
      const session = new ScramServerSession('sha256', lookup);
      await assert.rejects(session.start(typeof message === 'string' ? buf(message) : message), isFailure(condition));
      assert.deepEqual(lookup.asked, []);
    });
  }

  describe('client-final-message checks', () => {
    async function started(): Promise<{ session: ScramServerSession; good: string }> {
      const users = { alice: await deriveScramCredential('pw', 'sha256', ITERATIONS) };
      const { session, clientFinal } = await exchange('sha256', users, 'alice', 'pw');
      return { session, good: clientFinal };
    }
    const tampered: [string, (good: string) => string, SaslFailure['condition']][] = [
      ['a channel binding that does not echo the GS2 header', (g) => g.replace('c=biws', 'c=eSws'), 'not-authorized'],
      ['a changed nonce', (g) => g.replace(/r=([^,]+)/, 'r=$1x'), 'not-authorized'],
      ['a proof that is not base64', (g) => g.replace(/p=.*$/, 'p=***'), 'malformed-request'],
      ['a truncated proof', (g) => g.replace(/p=.*$/, 'p=AAAA'), 'not-authorized'],
      ['no proof', (g) => g.replace(/,p=.*$/, ''), 'malformed-request'],
      ['attributes out of order', (g) => g.replace(/^c=([^,]+),r=([^,]+)/, 'r=$2,c=$1'), 'malformed-request'],
    ];
    for (const [what, tamper, condition] of tampered) {
      test(`${what} fails with ${condition}`, async () => {
        const { session, good } = await started();
        assert.throws(() => session.finish(buf(tamper(good))), isFailure(condition));
        assert.equal(session.username, undefined);
      });
    }

    test('finish before start, or a second finish, is malformed-request', async () => {
      const fresh = new ScramServerSession('sha256', lookupOf({}));
      assert.throws(() => fresh.finish(buf('c=biws,r=x,p=AAAA')), isFailure('malformed-request'));
      const { session, good } = await started();
      session.finish(buf(good));
      assert.throws(() => session.finish(buf(good)), isFailure('malformed-request'));
      await assert.rejects(session.start(buf('n,,n=alice,r=abc')), isFailure('malformed-request'));
    });
  });
});
