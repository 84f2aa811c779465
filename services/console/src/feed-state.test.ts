import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FEED_LINES, appendLine, applyToResources } from './feed-state.js';
import type { FeedEvent, ResourceView } from './view.js';

const res = (resource: string, status = ''): ResourceView => ({
  fullJid: `alice@localhost/${resource}`,
  resource,
  show: 'available',
  status,
  priority: 0,
  nodeId: 'node-1',
  sinceUnixMs: 1,
  sessionId: resource,
});
const change = (resource: string, available: boolean, status = ''): FeedEvent => ({
  kind: 'change',
  jid: 'alice@localhost',
  resource,
  available,
  cause: available ? 'available' : 'client-lost',
  presence: available ? res(resource, status) : undefined,
  sequence: '1:1',
  atUnixMs: 500,
});

test('a snapshot replaces the resources; available adds or replaces one; unavailable removes it', () => {
  let r = applyToResources([res('old')], 'alice@localhost', { kind: 'snapshot', jid: 'alice@localhost', resources: [res('laptop')] });
  assert.deepEqual(r.map((x) => x.resource), ['laptop']);
  r = applyToResources(r, 'alice@localhost', change('phone', true));
  r = applyToResources(r, 'alice@localhost', change('laptop', true, 'busy'));
  assert.deepEqual(r.map((x) => `${x.resource}:${x.status}`), ['laptop:busy', 'phone:']);
  r = applyToResources(r, 'alice@localhost', change('laptop', false));
  assert.deepEqual(r.map((x) => x.resource), ['phone']);
  assert.equal(applyToResources(r, 'bob@localhost', change('phone', false)), r, "another user's event changes nothing");
});

test('the feed keeps the newest lines first, at most MAX_FEED_LINES, with the change time or the arrival time of a snapshot', () => {
  let lines = appendLine([], { kind: 'snapshot', jid: 'alice@localhost', resources: [] }, 0, 42);
  assert.equal(lines[0]?.atUnixMs, 42);
  lines = appendLine(lines, change('laptop', true), 1, 99);
  assert.equal(lines[0]?.atUnixMs, 500);
  for (let i = 2; i < MAX_FEED_LINES + 10; i++) lines = appendLine(lines, change('laptop', i % 2 === 0), i, 0);
  assert.equal(lines.length, MAX_FEED_LINES);
  assert.equal(lines[0]?.key, MAX_FEED_LINES + 9);
});
