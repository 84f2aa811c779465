import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromRoster, onPresence } from './demo-state.js';

const roster = [{ jid: 'bob@localhost', name: 'Bob', subscription: 'both' }];

test("a contact is online while one of its resources' last presence was available (RFC 6121 §4.5.2 unavailable removes it)", () => {
  let cs = fromRoster({}, roster);
  cs = onPresence(cs, 'bob@localhost/phone', undefined, 'hi');
  cs = onPresence(cs, 'bob@localhost/desk', undefined, '');
  assert.deepEqual(Object.keys(cs['bob@localhost']?.available ?? {}).sort(), ['desk', 'phone']);
  cs = onPresence(cs, 'bob@localhost/phone', 'unavailable', '');
  assert.deepEqual(Object.keys(cs['bob@localhost']?.available ?? {}), ['desk']);
  cs = onPresence(cs, 'bob@localhost/desk', 'unavailable', '');
  assert.deepEqual(cs['bob@localhost']?.available, {});
});

test('presence from someone not in the roster, or of another type, changes nothing; a roster reload keeps presence', () => {
  const cs = onPresence(fromRoster({}, roster), 'bob@localhost/phone', undefined, '');
  assert.equal(onPresence(cs, 'mallory@localhost/x', undefined, ''), cs);
  assert.equal(onPresence(cs, 'bob@localhost/phone', 'subscribe', ''), cs);
  assert.deepEqual(fromRoster(cs, roster)['bob@localhost']?.available, { phone: '' });
  assert.deepEqual(fromRoster(cs, []), {});
});
