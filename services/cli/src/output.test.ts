import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api } from '@vigil/proto';
import { duration, histogramQuantile, label, table, time, toJson } from './output.js';

test('table aligns columns, capitalises headers, keeps each row on one line and trims trailing blanks', () => {
  const text = table(['jid', 'show', 'status'], [
    ['alice@localhost/phone', 'dnd', 'in a\nmeeting'],
    ['bob@localhost', 'offline', ''],
  ]);
  assert.equal(
    text,
    ['JID                    SHOW     STATUS', 'alice@localhost/phone  dnd      in a meeting', 'bob@localhost          offline'].join('\n'),
  );
});

test('enum labels, times and durations for people', () => {
  assert.equal(label('CHANGE_CAUSE_CLIENT_LOST', 'CHANGE_CAUSE_'), 'client-lost');
  assert.equal(label('SHOW_DND', 'SHOW_'), 'dnd');
  assert.equal(time(0), '');
  assert.equal(time(Date.UTC(2025, 0, 2, 3, 4, 5, 678)), '2025-01-02T03:04:05Z');
  assert.deepEqual([duration(850), duration(12_345), duration(240_000), duration(7_200_000), duration(3 * 86_400_000)], ['850 ms', '12.3 s', '4 min', '2 h', '3 d']);
});

test('toJson is the proto3 JSON mapping with every field present', () => {
  const offline = api.presence.UserPresence.fromPartial({ jid: 'carol@localhost', sequence: { epoch: 3, counter: 0 } });
  assert.deepEqual(toJson(api.presence.UserPresence, offline), { jid: 'carol@localhost', resources: [], sequence: { epoch: 3, counter: 0 } });

  const change = api.presence.WatchPresenceResponse.fromPartial({
    event: {
      $case: 'change',
      change: { jid: 'a@localhost', resource: 'r', available: false, cause: api.presence.ChangeCause.CHANGE_CAUSE_KICKED, sequence: { epoch: 1, counter: 2 }, changedAtUnixMs: 5 },
    },
  });
  assert.deepEqual(toJson(api.presence.WatchPresenceResponse, change), {
    change: { jid: 'a@localhost', resource: 'r', available: false, cause: 'CHANGE_CAUSE_KICKED', presence: null, sequence: { epoch: 1, counter: 2 }, changedAtUnixMs: 5 },
  });

  const roster = api.roster.GetRosterResponse.fromPartial({ version: 2, items: [{ jid: 'b@localhost', subscription: api.roster.Subscription.SUBSCRIPTION_BOTH }] });
  assert.deepEqual(toJson(api.roster.GetRosterResponse, roster), {
    version: 2,
    items: [{ jid: 'b@localhost', name: '', subscription: 'SUBSCRIPTION_BOTH', pendingOut: false, approved: false, groups: [] }],
    pendingIn: [],
    blocked: [],
  });
});

test('histogram quantiles name the bucket bound that holds them', () => {
  const h = { boundsSeconds: [0.00025, 0.0025, 0.5, 2], counts: [10, 80, 9, 0, 1], count: 100 };
  assert.deepEqual([0.05, 0.1, 0.11, 0.5, 0.9, 0.91, 0.99, 1].map((q) => histogramQuantile(h, q)), ['≤ 0.25 ms', '≤ 0.25 ms', '≤ 2.5 ms', '≤ 2.5 ms', '≤ 2.5 ms', '≤ 500 ms', '≤ 500 ms', '> 2 s']);
  assert.equal(histogramQuantile({ boundsSeconds: [1], counts: [0, 0], count: 0 }, 0.5), '');
  // Every quantile of a histogram names a bound at or above the previous quantile's.
  const order = (t: string) => (t.startsWith('>') ? Infinity : Number(t.replace(/[^\d.]/g, '')) * (t.endsWith(' s') ? 1000 : 1));
  const qs = [0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1].map((q) => order(histogramQuantile(h, q)));
  assert.deepEqual([...qs].sort((a, b) => a - b), qs);
});
