import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '@vigil/telemetry';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { HandOver } from './hand-over.js';

let server: NatsServer;
let nc: NatsConnection;
const lines: string[] = [];
const log = createLogger({}, { level: 'warn', write: (l) => lines.push(l) });

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

after(async () => {
  await nc?.close();
  await server?.stop();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  await withDeadline((async () => {
    while (!cond()) await new Promise((resolve) => setTimeout(resolve, 10));
  })(), 10_000, what);
}

test('an acknowledged message is sent once and forgotten', async () => {
  const h = new HandOver(nc, log, { attempts: 3, timeoutMs: 200, retryMs: 50 });
  let got = 0;
  const sub = nc.subscribe('ho.ok', { callback: (_e, m) => { got++; m.respond(); } });
  await nc.flush();
  h.send('ho.ok', Uint8Array.of(1));
  await until(() => h.pending === 0, 'acknowledged');
  assert.equal(got, 1);
  sub.unsubscribe();
  h.stop();
});

test('with nobody listening at first, it is sent again until an owner appears', async () => {
  const h = new HandOver(nc, log, { attempts: 8, timeoutMs: 200, retryMs: 50 });
  h.send('ho.later', Uint8Array.of(2));
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(h.pending, 1);
  const got: number[] = [];
  const sub = nc.subscribe('ho.later', { callback: (_e, m) => { got.push(m.data[0] ?? -1); m.respond(); } });
  await until(() => h.pending === 0, 'delivered after the owner appeared');
  assert.deepEqual(got, [2]);
  sub.unsubscribe();
  h.stop();
});

test('a message never acknowledged is given up after its attempts, with a warning', async () => {
  const h = new HandOver(nc, log, { attempts: 3, timeoutMs: 60, retryMs: 20 });
  let seen = 0;
  const sub = nc.subscribe('ho.silent', { callback: () => void seen++ }); // receives, never acknowledges
  await nc.flush();
  h.send('ho.silent', Uint8Array.of(3));
  await until(() => h.pending === 0, 'given up');
  assert.equal(seen, 3);
  assert.ok(lines.some((l) => l.includes('gave up handing a stanza') && l.includes('ho.silent')));
  sub.unsubscribe();
  h.stop();
});
