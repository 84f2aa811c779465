import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api } from '@vigil/proto';
import { cause, causeFromWord, feedEvent, latencyView, leaseState, natsView, show, subscription } from './convert.js';
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

test('NATS servers and detection metrics become plain views; a failed read becomes the panel\'s reason', () => {
  const nats = natsView({
    servers: [{ address: '127.0.0.1:4222', configured: true, discovered: false, reachable: true, connected: true, serverName: 'n1', serverId: 'NID', version: '2.9.10', probeMs: 1, error: '' }],
    authorityId: 'authority-1',
    clusterName: '',
  });
  assert.deepEqual(nats.servers.map((x) => [x.address, x.reachable, x.connected, x.serverName]), [['127.0.0.1:4222', true, true, 'n1']]);
  assert.equal(nats.error, '');
  assert.deepEqual(natsView('UNIMPLEMENTED: no such method'), { servers: [], authorityId: '', clusterName: '', error: 'UNIMPLEMENTED: no such method' });
  const lat = latencyView(
    {
      detectionLatency: [{ cause: 'client-lost', histogram: { boundsSeconds: [0.001, 1], counts: [2, 0, 1], sumSeconds: 5.001, count: 3 } }],
      fanOut: [{ kind: 'unavailable', total: 9, perSecond: 0.5 }],
      authorities: [{ authorityId: 'authority-1', detections: 3, unavailableStanzas: 9, unavailablePerSecond: 0.5, rateWindowMs: 10_000, startedAtUnixMs: 1, incompatible: false }],
      unanswered: ['authority-2'],
      readAtUnixMs: 0,
    },
    77,
  );
  assert.deepEqual(lat.causes, [{ cause: 'client-lost', histogram: { boundsSeconds: [0.001, 1], counts: [2, 0, 1], sumSeconds: 5.001, count: 3 } }]);
  assert.deepEqual(lat.unanswered, ['authority-2']);
  assert.equal(lat.readAtUnixMs, 77, "the console's clock when the authority gave none");
  assert.equal(latencyView('UNAVAILABLE: down', 5).error, 'UNAVAILABLE: down');
});
