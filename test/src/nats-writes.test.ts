import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { writeOncePerTurn } from '@vigil/store';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';

// writeOncePerTurn reaches into nats.js's ProtocolHandler: these tests fail
// if a nats.js update changes what it relies on.
let server: NatsServer;
let listener: NatsConnection;
const te = new TextEncoder();
const td = new TextDecoder();

before(async () => {
  server = await startNatsServer();
  listener = await connect({ servers: server.url });
});

after(async () => {
  await listener?.close();
  await server?.stop();
});

/** Counts the socket writes of a connection (nats.js's transport.send). */
function countWrites(nc: NatsConnection): () => number {
  const transport = (nc as unknown as { protocol: { transport: { send(d: Uint8Array): void } } }).protocol.transport;
  let n = 0;
  const send = transport.send.bind(transport);
  transport.send = (d: Uint8Array) => {
    n++;
    send(d);
  };
  return () => n;
}

function collect(subject: string, count: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    listener.subscribe(subject, {
      max: count,
      callback: (_e, m: Msg) => {
        got.push(td.decode(m.data));
        if (got.length === count) resolve(got);
      },
    });
  });
}

test('publishes from many microtask checkpoints of one turn leave in one write, in order', async () => {
  const nc = await connect({ servers: server.url });
  try {
    writeOncePerTurn(nc);
    const arrived = collect('turn.one', 50);
    await listener.flush();
    const writes = countWrites(nc);
    // One event-loop turn: 50 publishes, each after its own await (a microtask checkpoint).
    await new Promise<void>((resolve) => setImmediate(() => {
      void (async () => {
        for (let i = 0; i < 50; i++) {
          nc.publish('turn.one', te.encode(String(i)));
          await Promise.resolve();
        }
      })().then(resolve);
    }));
    assert.deepEqual(await withDeadline(arrived, 10_000, '50 messages'), Array.from({ length: 50 }, (_, i) => String(i)));
    assert.equal(writes(), 1);
  } finally {
    await nc.close();
  }
});

test("a caller's own batch, added by its beforeWrite hook, leaves in the same write as the turn's other publishes", async () => {
  const nc = await connect({ servers: server.url });
  try {
    const writes = writeOncePerTurn(nc);
    const batch: string[] = [];
    writes.beforeWrite(() => {
      for (const m of batch.splice(0)) nc.publish('turn.hook', te.encode(m));
    });
    const arrived = collect('turn.hook', 4);
    await listener.flush();
    const count = countWrites(nc);
    await new Promise<void>((resolve) => setImmediate(() => {
      nc.publish('turn.hook', te.encode('direct-1'));
      batch.push('batched-1', 'batched-2');
      writes.schedule();
      void Promise.resolve().then(() => nc.publish('turn.hook', te.encode('direct-2'))).then(resolve);
    }));
    // The hook runs first at the write: the batch goes out after what was published directly before it, in one write.
    assert.deepEqual(await withDeadline(arrived, 10_000, '4 messages'), ['direct-1', 'direct-2', 'batched-1', 'batched-2']);
    assert.equal(count(), 1);
  } finally {
    await nc.close();
  }
});

test('without it nats.js writes at each checkpoint (what the change is for)', async () => {
  const nc = await connect({ servers: server.url });
  try {
    const arrived = collect('turn.plain', 10);
    await listener.flush();
    const writes = countWrites(nc);
    for (let i = 0; i < 10; i++) {
      nc.publish('turn.plain', te.encode(String(i)));
      await Promise.resolve();
      await Promise.resolve();
    }
    await withDeadline(arrived, 10_000, '10 messages');
    assert.ok(writes() > 1, `${writes()} writes`);
  } finally {
    await nc.close();
  }
});

test('close() sends what was published just before it; flush() and requests still work; installing twice is harmless', async () => {
  const nc = await connect({ servers: server.url });
  const first = writeOncePerTurn(nc);
  assert.equal(writeOncePerTurn(nc), first);
  const sub = listener.subscribe('svc.echo', { callback: (_e, m) => { m.respond(te.encode(`re:${td.decode(m.data)}`)); } });
  await listener.flush();
  const reply = await nc.request('svc.echo', te.encode('x'), { timeout: 5000 });
  assert.equal(td.decode(reply.data), 're:x');
  await withDeadline(nc.flush(), 5000, 'a flush');
  const last = collect('turn.last', 1);
  await listener.flush();
  nc.publish('turn.last', te.encode('bye'));
  await nc.close();
  assert.deepEqual(await withDeadline(last, 10_000, 'the message published before close'), ['bye']);
  sub.unsubscribe();
});

test('a burst beyond nats.js pending limit is written inline, in order, without waiting for the turn', async () => {
  const nc = await connect({ servers: server.url });
  try {
    writeOncePerTurn(nc);
    const n = 200;
    const arrived = collect('turn.big', n);
    await listener.flush();
    const writes = countWrites(nc);
    const payload = new Uint8Array(8 * 1024);
    for (let i = 0; i < n; i++) {
      payload[0] = i % 256;
      nc.publish('turn.big', te.encode(String(i)));
      nc.publish('turn.pad', payload);
    }
    // Over 1.6 MB in one synchronous run: nats.js's limit (32 KiB by default) forced writes before the turn ended.
    assert.ok(writes() > 1, `${writes()} writes before the turn ended`);
    assert.deepEqual(await withDeadline(arrived, 10_000, `${n} messages`), Array.from({ length: n }, (_, i) => String(i)));
  } finally {
    await nc.close();
  }
});
