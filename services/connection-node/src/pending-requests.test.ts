import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PendingRequests } from './pending-requests.js';

type Outcome = { kind: 'value'; value: number } | { kind: 'error'; message: string };

function track(table: PendingRequests<number>, subject: string, deadlineMs: number, outcomes: Map<string, Outcome[]>): string {
  const seen: Outcome[] = [];
  const token = table.add(subject, deadlineMs, {
    resolve: (value) => seen.push({ kind: 'value', value }),
    reject: (e) => seen.push({ kind: 'error', message: e.message }),
  });
  outcomes.set(token, seen);
  return token;
}

test('replies settle their own request whatever order they come in, and a late or unknown token finds nothing', () => {
  const table = new PendingRequests<number>();
  const outcomes = new Map<string, Outcome[]>();
  const a = track(table, 'a', 100, outcomes);
  const b = track(table, 'b', 100, outcomes);
  assert.notEqual(a, b);
  assert.equal(table.resolve(b, 2), true);
  assert.equal(table.resolve(a, 1), true);
  assert.equal(table.resolve(a, 3), false);
  assert.equal(table.resolve('nope', 4), false);
  assert.deepEqual(outcomes.get(a), [{ kind: 'value', value: 1 }]);
  assert.deepEqual(outcomes.get(b), [{ kind: 'value', value: 2 }]);
  assert.equal(table.size, 0);
});

test('expiry fails exactly the requests at or past their deadline, naming their subject', () => {
  const table = new PendingRequests<number>();
  const outcomes = new Map<string, Outcome[]>();
  const early = track(table, 'early', 10, outcomes);
  const late = track(table, 'late', 20, outcomes);
  assert.equal(table.expire(10, (s) => new Error(`timeout ${s}`)), 1);
  assert.deepEqual(outcomes.get(early), [{ kind: 'error', message: 'timeout early' }]);
  assert.deepEqual(outcomes.get(late), []);
  assert.equal(table.resolve(early, 1), false, 'a reply after the timeout changes nothing');
  assert.equal(table.closeAll((s) => new Error(`closed ${s}`)), 1);
  assert.deepEqual(outcomes.get(late), [{ kind: 'error', message: 'closed late' }]);
});

test('property: every request is settled exactly once, by its own reply if that came before its deadline and the close', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), timeout: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ kind: fc.constant('reply' as const), index: fc.nat(40), value: fc.integer() }),
    fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    fc.record({ kind: fc.constant('fail' as const), index: fc.nat(40) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), fc.boolean(), (ops, closeAtEnd) => {
      const table = new PendingRequests<number>();
      const outcomes = new Map<string, Outcome[]>();
      const tokens: string[] = [];
      const deadlines = new Map<string, number>();
      // The model: which requests are still open, and what each must end with.
      const expected = new Map<string, Outcome>();
      let now = 0;
      for (const o of ops) {
        if (o.kind === 'add') {
          const t = track(table, `s${tokens.length}`, now + o.timeout, outcomes);
          tokens.push(t);
          deadlines.set(t, now + o.timeout);
        } else if (o.kind === 'reply' && tokens.length > 0) {
          const t = tokens[o.index % tokens.length] as string;
          const open = !expected.has(t);
          assert.equal(table.resolve(t, o.value), open);
          if (open) expected.set(t, { kind: 'value', value: o.value });
        } else if (o.kind === 'fail' && tokens.length > 0) {
          const t = tokens[o.index % tokens.length] as string;
          const open = !expected.has(t);
          assert.equal(table.reject(t, (s) => new Error(`no responders ${s}`)), open);
          if (open) expected.set(t, { kind: 'error', message: `no responders s${tokens.indexOf(t)}` });
        } else if (o.kind === 'tick') {
          now += o.ms;
          table.expire(now, (s) => new Error(`timeout ${s}`));
          for (const t of tokens) {
            if (!expected.has(t) && (deadlines.get(t) as number) <= now) expected.set(t, { kind: 'error', message: `timeout s${tokens.indexOf(t)}` });
          }
        }
      }
      if (closeAtEnd) {
        table.closeAll((s) => new Error(`closed ${s}`));
        for (const t of tokens) if (!expected.has(t)) expected.set(t, { kind: 'error', message: `closed s${tokens.indexOf(t)}` });
      }
      for (const t of tokens) {
        const got = outcomes.get(t) ?? [];
        const want = expected.get(t);
        assert.deepEqual(got, want === undefined ? [] : [want]);
      }
      assert.equal(table.size, tokens.filter((t) => !expected.has(t)).length);
    }),
  );
});
