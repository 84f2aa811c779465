import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import { ConfigError } from '@vigil/config';
import { TokenAuthenticator } from './auth.js';
import { ApiError } from './errors.js';
import { parseTokens } from './tokens.js';

const long = (c: string) => c.repeat(20);

test('tokens are name:scope:token entries separated by commas or lines, with comments', () => {
  const tokens = parseTokens(`# ops team\nops:admin:${long('a')}\n\n dash:read:${long('b')} , ci:read:${long('c')}:with-colon`, 'X');
  assert.deepEqual(tokens.map((t) => [t.name, t.scope]), [['ops', 'admin'], ['dash', 'read'], ['ci', 'read']]);
  assert.equal(tokens[2]?.token, `${long('c')}:with-colon`);
});

test('a malformed, weak or duplicate token is refused at start, naming the setting', () => {
  for (const bad of ['ops', 'ops:root:' + long('a'), 'ops:admin:short', `a:read:${long('a')},a:admin:${long('b')}`]) {
    assert.throws(() => parseTokens(bad, 'VIGIL_GRPC_TOKENS'), (e: unknown) => e instanceof ConfigError && e.setting === 'VIGIL_GRPC_TOKENS', bad);
  }
});

test('a read token reads, only an admin token writes, and an unknown or missing token is unauthenticated', () => {
  const auth = new TokenAuthenticator(parseTokens(`ops:admin:${long('a')},dash:read:${long('b')}`, 'X'));
  const md = (value?: string) => {
    const m = new Metadata();
    if (value !== undefined) m.set('authorization', value);
    return m;
  };
  assert.equal(auth.authenticate(md(`Bearer ${long('b')}`), 'read').name, 'dash');
  assert.equal(auth.authenticate(md(`bearer ${long('a')}`), 'admin').name, 'ops');
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof ApiError ? e.code : undefined;
    }
    return status.OK;
  };
  assert.equal(code(() => auth.authenticate(md(`Bearer ${long('b')}`), 'admin')), status.PERMISSION_DENIED);
  assert.equal(code(() => auth.authenticate(md(`Bearer ${long('z')}`), 'read')), status.UNAUTHENTICATED);
  // After a token matched once: a longer or shorter string is still no token.
  assert.equal(code(() => auth.authenticate(md(`Bearer ${long('b')}b`), 'read')), status.UNAUTHENTICATED);
  assert.equal(code(() => auth.authenticate(md(`Bearer ${long('b').slice(1)}`), 'read')), status.UNAUTHENTICATED);
  assert.equal(auth.authenticate(md(`Bearer ${long('b')}`), 'read').name, 'dash');
  assert.equal(code(() => auth.authenticate(md(), 'read')), status.UNAUTHENTICATED);
  assert.equal(code(() => auth.authenticate(md(long('a')), 'read')), status.UNAUTHENTICATED);
});
