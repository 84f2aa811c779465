import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api } from '@vigil/proto';
import { cause, causeFromWord, feedEvent, leaseState, show, subscription } from './convert.js';
import { CAUSES } from './view.js';

test('every proto enum value has a word, and unknown values read as unknown', () => {
  assert.deepEqual(
    Object.values(api.cluster.LeaseState).filter((v) => v > 0).map(leaseState),
    ['live', 'late', 'expired'],
  );
  assert.deepEqual(
    Object.values(api.presence.Show).filter((v) => v > 0).map(show),
    ['available', 'chat', 'away', 'xa', 'dnd'],
  );
  assert.deepEqual(
    Object.values(api.roster.Subscription).filter((v) => v > 0).map(subscription),
    ['none', 'to', 'from', 'both'],
  );
  assert.deepEqual(Object.values(api.presence.ChangeCause).filter((v) => v > 0).map(cause), [...CAUSES]);
  for (const f of [leaseState, show, subscription, cause]) assert.equal(f(99), 'unknown');
});

test('cause words from a query string map back to the proto enum, and nothing else does', () => {
  for (const w of CAUSES) assert.equal(cause(causeFromWord(w) ?? -1), w);
  assert.equal(causeFromWord('unknown'), undefined);
  assert.equal(causeFromWord('CHANGE_CAUSE_KICKED'), undefined);
});

test('a WatchPresence change becomes a feed event with its cause and sequence; status text is kept verbatim', () => {
  const e = feedEvent({
    event: {
      $case: 'change',
      change: {
        jid: 'alice@localhost',
        resource: 'laptop',
        available: true,
        cause: api.presence.ChangeCause.CHANGE_CAUSE_AVAILABLE,
        presence: {
          fullJid: 'alice@localhost/laptop',
          resource: 'laptop',
          show: api.presence.Show.SHOW_AWAY,
          status: '<script>x</script>',
          priority: 5,
          nodeId: 'node-1',
          availableSinceUnixMs: 10,
          sessionId: 's1',
        },
        sequence: { epoch: 3, counter: 7 },
        changedAtUnixMs: 11,
      },
    },
  });
  assert.equal(e?.kind, 'change');
  assert.ok(e?.kind === 'change');
  assert.equal(e.cause, 'available');
  assert.equal(e.sequence, '3:7');
  assert.equal(e.presence?.status, '<script>x</script>');
  assert.equal(e.presence?.show, 'away');
  assert.equal(feedEvent({ event: undefined }), undefined);
});
