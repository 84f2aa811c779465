import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './index.js';

test('each log record is one JSON line with level, message and context', () => {
  const lines: string[] = [];
  const log = createLogger({ service: 'x' }, { level: 'info', write: (l) => lines.push(l) }).child({ node: 'n1' });
  log.debug('hidden');
  log.warn('socket error', { err: new Error('boom') });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n'));
  const rec = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal(rec.level, 'warn');
  assert.equal(rec.msg, 'socket error');
  assert.equal(rec.service, 'x');
  assert.equal(rec.node, 'n1');
  assert.deepEqual(rec.err, { name: 'Error', message: 'boom' });
});
