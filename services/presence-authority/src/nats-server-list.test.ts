import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { candidates, natsAddress, parseInfoLine, serverList, type Candidate } from './nats-server-list.js';
import { probeNats } from './grpc/nats-servers.js';

test('NATS URLs become host:port without scheme or credentials; what is no address is skipped', () => {
  assert.equal(natsAddress('nats://127.0.0.1:4222'), '127.0.0.1:4222');
  assert.equal(natsAddress('nats://user:secret@NATS-0.example:4223'), 'nats-0.example:4223');
  assert.equal(natsAddress('tls://nats.example'), 'nats.example:4222');
  assert.equal(natsAddress('10.0.0.7:6222'), '10.0.0.7:6222');
  assert.equal(natsAddress('[::1]:4222'), '[::1]:4222');
  assert.equal(natsAddress(''), undefined);
  assert.equal(natsAddress('nats://'), undefined);
});

test('every known address is probed once: configured first, then the pool and what the servers announce', () => {
  const c = candidates(
    {
      configured: ['nats://a:1', 'nats://token@b:2'],
      pool: [{ listen: 'a:1', gossiped: false }, { listen: 'b:2', gossiped: true }, { listen: 'c:3', gossiped: true }],
      connectUrls: ['c:3', 'd:4', 'nonsense://'],
    },
    10,
  );
  assert.deepEqual(c, [
    { address: 'a:1', configured: true, discovered: false },
    { address: 'b:2', configured: true, discovered: true },
    { address: 'c:3', configured: false, discovered: true },
    { address: 'd:4', configured: false, discovered: true },
  ]);
  assert.equal(candidates({ configured: ['x:1', 'y:2', 'z:3'], pool: [], connectUrls: [] }, 2).length, 2, 'bounded');
});

test('addresses that reach the same server are one entry; the connected server is marked; the unreachable say why', () => {
  const cand = (address: string, configured: boolean, discovered: boolean): Candidate => ({ address, configured, discovered });
  const list = serverList(
    [
      { candidate: cand('localhost:4222', true, false), probe: { reachable: true, serverId: 'S1', serverName: 'n1', version: '2.9.10', probeMs: 0.6 } },
      { candidate: cand('127.0.0.1:4222', false, true), probe: { reachable: true, serverId: 'S1', serverName: 'n1', version: '2.9.10', probeMs: 0.4 } },
      { candidate: cand('127.0.0.1:4223', false, true), probe: { reachable: false, error: 'ECONNREFUSED' } },
      { candidate: cand('127.0.0.1:4224', false, true), probe: { reachable: true, serverId: 'S3', serverName: 'n3', version: '2.9.10', probeMs: 1.2 } },
    ],
    'S3',
  );
  assert.deepEqual(list.map((s) => [s.address, s.configured, s.discovered, s.reachable, s.connected, s.serverName, s.error]), [
    ['127.0.0.1:4223', false, true, false, false, '', 'ECONNREFUSED'],
    ['127.0.0.1:4224', false, true, true, true, 'n3', ''],
    ['localhost:4222', true, true, true, false, 'n1', ''],
  ]);
  assert.equal(list[1]?.probeMs, 1);
});

test('an INFO line is read for its id, name, version and connect_urls; anything else is not one', () => {
  assert.deepEqual(parseInfoLine('INFO {"server_id":"NA","server_name":"n1","version":"2.9.10","connect_urls":["1.2.3.4:4222",7]}'), {
    serverId: 'NA', serverName: 'n1', version: '2.9.10', connectUrls: ['1.2.3.4:4222'],
  });
  assert.equal(parseInfoLine('HTTP/1.1 400 Bad Request'), undefined);
  assert.equal(parseInfoLine('INFO {not json'), undefined);
  assert.equal(parseInfoLine('INFO {"server_name":"no id"}'), undefined);
});

/** A TCP server that writes `greeting` to each connection (or nothing) on a free loopback port. */
async function fakeServer(greeting: string | undefined): Promise<{ server: Server; address: string }> {
  const server = createServer((s) => {
    s.on('error', () => undefined); // the probe hangs up at once
    if (greeting !== undefined) s.write(greeting);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  assert.ok(typeof a === 'object' && a !== null);
  return { server, address: `127.0.0.1:${a.port}` };
}

test('a probe reads a NATS INFO line, and tells a closed port, a silent one and another protocol apart', async () => {
  const nats = await fakeServer('INFO {"server_id":"NFAKE","server_name":"fake","version":"2.9.10"}\r\n');
  const http = await fakeServer('HTTP/1.1 400 Bad Request\r\n\r\n');
  const silent = await fakeServer(undefined);
  try {
    const ok = await probeNats(nats.address);
    assert.equal(ok.reachable, true);
    assert.equal(ok.reachable && ok.serverId, 'NFAKE');
    assert.deepEqual(await probeNats(http.address), { reachable: false, error: 'not a NATS server (no INFO line)' });
    assert.deepEqual(await probeNats(silent.address, 200), { reachable: false, error: 'no INFO within 200 ms' });
  } finally {
    for (const s of [nats, http, silent]) s.server.close();
  }
  // The port just closed: nobody listens there now.
  assert.deepEqual(await probeNats(nats.address), { reachable: false, error: 'ECONNREFUSED' });
});
