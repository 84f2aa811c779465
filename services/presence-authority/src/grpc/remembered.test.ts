import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remembered } from './remembered.js';

test('a value is computed once per key until the bound empties the map', () => {
  const calls: string[] = [];
  const upper = remembered(3, (s: string) => (calls.push(s), s.toUpperCase()));
  assert.deepEqual(['a', 'b', 'a', 'c', 'b'].map(upper), ['A', 'B', 'A', 'C', 'B']);
  assert.deepEqual(calls, ['a', 'b', 'c']);
  upper('d'); // the fourth key: the map is emptied first
  upper('a');
  assert.deepEqual(calls, ['a', 'b', 'c', 'd', 'a']);
});
