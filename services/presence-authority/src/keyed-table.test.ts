import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyedTable } from './keyed-table.js';

interface Item {
  readonly key: string;
  readonly n: number;
}

test('a keyed table holds exactly what a Map by key would, through any adds and deletes', () => {
  // Few distinct keys and long runs: many collisions, growth and shrinking, deletions inside probe runs.
  const op = fc.tuple(fc.constantFrom('add', 'add', 'delete'), fc.integer({ min: 0, max: 120 }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const table = new KeyedTable<Item>((i) => i.key);
      const model = new Map<string, Item>();
      let n = 0;
      for (const [kind, k] of ops) {
        const key = `s${k}`;
        if (kind === 'add') {
          const item = { key, n: n++ };
          assert.equal(table.add(item), !model.has(key));
          if (!model.has(key)) model.set(key, item);
        } else {
          assert.equal(table.delete(key), model.get(key));
          model.delete(key);
        }
        assert.equal(table.size, model.size);
      }
      for (let k = 0; k <= 120; k++) assert.equal(table.get(`s${k}`), model.get(`s${k}`), `s${k}`);
      assert.deepEqual(new Set(table.values()), new Set(model.values()));
      const visited: Item[] = [];
      table.forEach((i) => visited.push(i));
      assert.deepEqual(new Set(visited), new Set(model.values()));
    }),
  );
});

test('a keyed table finds keys equal in content, not only the same string', () => {
  const table = new KeyedTable<Item>((i) => i.key);
  const item = { key: ['ab', 'cd'].join(''), n: 1 };
  table.add(item);
  assert.equal(table.get(`a${'bcd'}`), item);
  assert.equal(table.add({ key: 'abcd', n: 2 }), false, 'a second value with the same key is refused');
  assert.equal(table.get('abcd'), item);
});
