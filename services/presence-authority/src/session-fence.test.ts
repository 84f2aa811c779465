import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionFence } from './session-fence.js';

test('a kicked session loses its presence and directed presence; its subscription and iq stand', () => {
  const f = new SessionFence(8);
  f.fence('k', 'kicked');
  assert.deepEqual(['presence', 'directed', 'subscription', 'iq'].map((kind) => f.drops('k', kind as never)), [true, true, false, false]);
  assert.equal(f.drops('other', 'presence'), false, 'an unfenced session keeps everything');
});

test('a deleted account\'s session loses everything, and a later kick does not narrow that', () => {
  const f = new SessionFence(8);
  f.fence('d', 'deleted');
  f.fence('d', 'kicked');
  assert.deepEqual(['presence', 'directed', 'subscription', 'iq'].map((kind) => f.drops('d', kind as never)), [true, true, true, true]);
});

test('the fence is bounded: the session fenced longest ago is forgotten first', () => {
  const f = new SessionFence(2);
  f.fence('a', 'kicked');
  f.fence('b', 'kicked');
  f.fence('c', 'kicked');
  assert.equal(f.size, 2);
  assert.deepEqual(['a', 'b', 'c'].map((id) => f.drops(id, 'presence')), [false, true, true]);
});
