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

test('a child adds its fields to its parent’s, the innermost winning, without copying them at creation', () => {
  const lines: string[] = [];
  const root = createLogger({ service: 'x', node: 'n0' }, { write: (l) => lines.push(l) });
  const stream = root.child({ node: 'n1', stream: 's1' });
  const session = stream.child({ session: 'q' });
  session.info('bound', { user: 'u' });
  root.info('root');
  const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(Object.keys(a ?? {}), ['time', 'level', 'msg', 'service', 'node', 'stream', 'session', 'user']);
  assert.equal(a?.node, 'n1');
  assert.equal(a?.session, 'q');
  assert.equal(b?.stream, undefined);
  assert.equal(b?.node, 'n0');
});

test('a root logger’s methods work detached, as callers pass them around', () => {
  const lines: string[] = [];
  const log = createLogger({ service: 'x' }, { write: (l) => lines.push(l) });
  const { info, child } = log;
  info('detached');
  child({ a: 1 }).info('from a detached child()');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['detached', 'from a detached child()']);
});
