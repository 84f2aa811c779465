import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lineBatch } from './line-batch.js';

function manualTurns() {
  const due: (() => void)[] = [];
  return {
    schedule: (fn: () => void) => void due.push(fn),
    endTurn: () => {
      for (const fn of due.splice(0)) fn();
    },
  };
}

test('lines of one turn leave in one write, in order', () => {
  const writes: string[] = [];
  const turns = manualTurns();
  const batch = lineBatch({ write: (t) => writes.push(t), schedule: turns.schedule });
  batch.write('a\n');
  batch.write('b\n');
  assert.deepEqual(writes, []);
  turns.endTurn();
  assert.deepEqual(writes, ['a\nb\n']);
  batch.write('c\n');
  turns.endTurn();
  assert.deepEqual(writes, ['a\nb\n', 'c\n']);
});

test('a batch reaching the size bound is written at once; flush writes what is pending', () => {
  const writes: string[] = [];
  const turns = manualTurns();
  const batch = lineBatch({ write: (t) => writes.push(t), schedule: turns.schedule, maxChars: 4 });
  batch.write('ab\n');
  batch.write('cd\n');
  assert.deepEqual(writes, ['ab\ncd\n']);
  batch.write('e\n');
  batch.flush();
  assert.deepEqual(writes, ['ab\ncd\n', 'e\n']);
  turns.endTurn();
  assert.deepEqual(writes, ['ab\ncd\n', 'e\n'], 'nothing left for the end of the turn');
});

test('whatever the turns and the bound, every line arrives once and in order', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant<null>(null), fc.string({ maxLength: 12 }).map((s) => `${s}\n`)), { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (ops, maxChars) => {
      const writes: string[] = [];
      const turns = manualTurns();
      const batch = lineBatch({ write: (t) => writes.push(t), schedule: turns.schedule, maxChars });
      let expected = '';
      for (const op of ops) {
        if (op === null) turns.endTurn();
        else {
          batch.write(op);
          expected += op;
        }
      }
      turns.endTurn();
      assert.equal(writes.join(''), expected);
      assert.ok(writes.every((w) => w !== ''));
    }),
  );
});
