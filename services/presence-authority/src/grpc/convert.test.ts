import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, cluster } from '@vigil/proto';
import { presenceChange, showAndStatus, userPresence } from './convert.js';

const Show = api.presence.Show;

test('show and status come from the presence stanza (RFC 6121 §4.7.2), the status without xml:lang first', () => {
  assert.deepEqual(showAndStatus("<presence from='a@x/r'/>"), { show: Show.SHOW_AVAILABLE, status: '' });
  assert.deepEqual(showAndStatus("<presence><show>xa</show><status xml:lang='de'>weg</status><status>away</status></presence>"), { show: Show.SHOW_XA, status: 'away' });
  assert.deepEqual(showAndStatus('<presence><show>nonsense</show></presence>'), { show: Show.SHOW_AVAILABLE, status: '' });
  assert.deepEqual(showAndStatus('not xml'), { show: Show.SHOW_AVAILABLE, status: '' });
});

test('a user presence lists available resources only, highest priority first, then the oldest', () => {
  const s = (r: string, priority: number, since: number, available = true) => ({
    session: { sessionId: r, fullJid: `a@x/${r}`, nodeId: 'n', incarnation: 'i' }, available, presenceXml: '<presence/>', priority, availableSinceUnixMs: since, directedTo: [],
  });
  const u = { bareJid: 'a@x', sessions: [s('late', 1, 20), s('gone', 9, 1, false), s('early', 1, 10), s('top', 5, 30)], epoch: 7, counter: 3 };
  const p = userPresence(u);
  assert.deepEqual(p.resources.map((r) => r.resource), ['top', 'early', 'late']);
  assert.deepEqual(p.sequence, { epoch: 7, counter: 3 });
  assert.deepEqual(userPresence(u, 'a@x/early').resources.map((r) => r.resource), ['early']);
});

test('a change names its cause: AVAILABLE with the new presence, or why the resource went', () => {
  const base = { session: { sessionId: 's', fullJid: 'a@x/r', nodeId: 'n', incarnation: 'i' }, presenceXml: '', priority: 0, epoch: 2, counter: 5, changedAtUnixMs: 1, availableSinceUnixMs: 0 };
  const lost = presenceChange({ ...base, available: false, cause: cluster.EndCause.END_CAUSE_NODE_LOST });
  assert.deepEqual([lost.jid, lost.resource, lost.cause, lost.presence], ['a@x', 'r', api.presence.ChangeCause.CHANGE_CAUSE_NODE_LOST, undefined]);
  const up = presenceChange({ ...base, available: true, presenceXml: '<presence><show>chat</show></presence>', cause: 0 });
  assert.equal(up.cause, api.presence.ChangeCause.CHANGE_CAUSE_AVAILABLE);
  assert.equal(up.presence?.show, Show.SHOW_CHAT);
  assert.deepEqual(up.sequence, { epoch: 2, counter: 5 });
});
