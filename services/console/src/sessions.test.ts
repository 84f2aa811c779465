import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SessionStore, clearedCookie, sessionCookie, sessionIdFrom } from './sessions.js';

const store = (max: number, idleMs: number) => {
  let now = 0;
  let n = 0;
  const s = new SessionStore({ max, idleMs, now: () => now, newId: () => `id${n++}` });
  return { s, advance: (ms: number) => (now += ms) };
};

test('a session is found by its id and keeps the token and scope the API reported', () => {
  const { s } = store(10, 1000);
  const a = s.create('tok-a', 'admin');
  assert.deepEqual(s.use(a.id), { ...a });
  assert.equal(s.use(a.id)?.token, 'tok-a');
  assert.equal(s.use(a.id)?.scope, 'admin');
  assert.equal(s.use('unknown'), undefined);
  assert.equal(s.use(undefined), undefined);
});

test('a session unused for longer than the idle time is gone; using it keeps it alive', () => {
  const { s, advance } = store(10, 1000);
  const a = s.create('t', 'read');
  advance(900);
  assert.ok(s.use(a.id));
  advance(900);
  assert.ok(s.use(a.id), 'the first use restarted its idle clock');
  advance(1001);
  assert.equal(s.use(a.id), undefined);
  assert.equal(s.size, 0, 'an expired session is forgotten, not kept');
});

test('at the maximum the least recently used session is forgotten', () => {
  const { s } = store(2, 1000);
  const a = s.create('a', 'read');
  const b = s.create('b', 'read');
  s.use(a.id);
  const c = s.create('c', 'read');
  assert.ok(s.use(a.id));
  assert.equal(s.use(b.id), undefined);
  assert.ok(s.use(c.id));
});

test('the store never holds more than its maximum, whatever the order of logins, uses and logouts', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.oneof(fc.constant<'create'>('create'), fc.nat(20), fc.tuple(fc.constant<'end'>('end'), fc.nat(20))), { maxLength: 60 }),
      (max, ops) => {
        const { s, advance } = store(max, 50);
        const ids: string[] = [];
        for (const op of ops) {
          if (op === 'create') ids.push(s.create('t', 'read').id);
          else if (typeof op === 'number') {
            advance(op);
            s.use(ids[op % Math.max(1, ids.length)]);
          } else s.end(ids[op[1] % Math.max(1, ids.length)] ?? '');
          assert.ok(s.size <= max);
        }
      },
    ),
  );
});

test('the cookie is HttpOnly and SameSite=Strict, and only well-formed ids are read back', () => {
  assert.equal(sessionCookie('abc', false), 'vigil_console=abc; Path=/; HttpOnly; SameSite=Strict');
  assert.match(sessionCookie('abc', true), /; Secure$/);
  assert.match(clearedCookie(false), /Max-Age=0/);
  assert.equal(sessionIdFrom('a=1; vigil_console=Zm9v_-9; b=2'), 'Zm9v_-9');
  assert.equal(sessionIdFrom('vigil_console=<script>'), undefined);
  assert.equal(sessionIdFrom('other=1'), undefined);
  assert.equal(sessionIdFrom(undefined), undefined);
});
