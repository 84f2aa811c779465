import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from './ports.js';

test('two picks in one process are never the same port, even when the random choice repeats', async (t) => {
  // Every random draw the same: without the record of ports handed out, the second pick would be the first one again.
  t.mock.method(Math, 'random', () => 0.5);
  const first = await freePort();
  const second = await freePort();
  t.mock.restoreAll();
  assert.notEqual(second, first);
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  assert.equal(new Set([first, second, ...ports]).size, ports.length + 2);
});

test('a picked port can be listened on, and on Linux lies below the range outgoing connections take theirs from', async (t) => {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
  let range: string;
  try {
    range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return t.skip('no /proc/sys/net/ipv4/ip_local_port_range here');
  }
  const low = Number(range.trim().split(/\s+/)[0]);
  // With an ephemeral range starting this low there is no room below it: freePort falls back to the OS's pick.
  if (!(low > 21_000)) return t.skip(`the ephemeral range starts at ${low}`);
  assert.ok(port >= 20_000 && port < low, `${port} is not in [20000, ${low})`);
});
