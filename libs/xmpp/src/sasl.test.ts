import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SaslFailure, parsePlain } from './sasl.js';
import { deriveScramCredential, verifyPassword } from './scram-credential.js';

const ITERATIONS = 16;

describe('parsePlain', () => {
  test('splits [authzid] NUL authcid NUL password (RFC 4616)', () => {
    assert.deepEqual(parsePlain(Buffer.from('\0juliet\0r0m30myr0m30')), {
      authzid: '',
      authcid: 'juliet',
      password: 'r0m30myr0m30',
    });
    assert.deepEqual(parsePlain(Buffer.from('juliet@example.com\0juliet\0pass word é')), {
      authzid: 'juliet@example.com',
      authcid: 'juliet',
      password: 'pass word é',
    });
  });

  const malformed: [string, Buffer, SaslFailure['condition']][] = [
    ['no NUL at all', Buffer.from('julietpassword'), 'malformed-request'],
    ['only one NUL', Buffer.from('juliet\0password'), 'malformed-request'],
    ['an extra NUL', Buffer.from('\0juliet\0pass\0word'), 'malformed-request'],
    ['an empty authcid', Buffer.from('\0\0password'), 'malformed-request'],
    ['an empty password', Buffer.from('\0juliet\0'), 'malformed-request'],
    ['an empty message', Buffer.alloc(0), 'malformed-request'],
    ['ill-formed UTF-8', Buffer.from([0, 0x6a, 0, 0xc3, 0x28]), 'incorrect-encoding'],
  ];
  for (const [what, message, condition] of malformed) {
    test(`a message with ${what} fails with ${condition}`, () => {
      assert.throws(
        () => parsePlain(message),
        (error: unknown) => error instanceof SaslFailure && error.condition === condition,
      );
    });
  }
});

describe('stored SCRAM credentials', () => {
  test('verifyPassword accepts the password the credential was derived from, and nothing else', async () => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const cred = await deriveScramCredential('r0m30myr0m30', hash, ITERATIONS);
      assert.equal(await verifyPassword('r0m30myr0m30', cred), true);
      assert.equal(await verifyPassword('r0m30myr0m31', cred), false);
      assert.equal(await verifyPassword('', cred), false);
    }
  });

  test('a credential keeps only salt, iterations and keys of the right sizes', async () => {
    const cred = await deriveScramCredential('pencil', 'sha256', ITERATIONS);
    assert.equal(cred.salt.length, 16);
    assert.equal(cred.iterations, ITERATIONS);
    assert.equal(cred.storedKey.length, 32);
    assert.equal(cred.serverKey.length, 32);
    assert.deepEqual(Object.keys(cred).sort(), ['hash', 'iterations', 'salt', 'serverKey', 'storedKey']);
  });

  test('each derivation gets a fresh random salt unless one is given', async () => {
    const a = await deriveScramCredential('pencil', 'sha1', ITERATIONS);
    const b = await deriveScramCredential('pencil', 'sha1', ITERATIONS);
    assert.notDeepEqual(a.salt, b.salt);
    const salt = Buffer.from('fixed salt');
    const c = await deriveScramCredential('pencil', 'sha1', ITERATIONS, salt);
    const d = await deriveScramCredential('pencil', 'sha1', ITERATIONS, salt);
    assert.deepEqual(c.storedKey, d.storedKey);
  });

  test('passwords are NFKC-normalised, so compatibility forms verify alike', async () => {
    const cred = await deriveScramCredential('ﬁle Ⅸ', 'sha256', ITERATIONS);
    assert.equal(await verifyPassword('file IX', cred), true);
  });

  test('invalid iteration counts are refused', async () => {
    await assert.rejects(deriveScramCredential('pw', 'sha256', 0), RangeError);
    await assert.rejects(deriveScramCredential('pw', 'sha256', 1.5), RangeError);
  });
});
