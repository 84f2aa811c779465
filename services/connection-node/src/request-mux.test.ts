import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, NoRespondersError, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, withDeadline, type NatsServer } from '@vigil/testkit';
import { RequestMux, RequestsClosedError, RequestTimeoutError, type SendRequest } from './request-mux.js';

// The node's own request multiplexer against a real nats-server: replies,
// timeouts, no responders, out-of-order answers, and what closing does.
let server: NatsServer;
let nc: NatsConnection;
let responder: NatsConnection;
const te = new TextEncoder();
const td = new TextDecoder();

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  responder = await connect({ servers: server.url });
});

after(async () => {
  await responder?.close();
  await nc?.close();
  await server?.stop();
});

const send: SendRequest = (subject, data, reply) => nc.publish(subject, data, { reply });

test('a request resolves with its reply', async () => {
  const sub = responder.subscribe('echo.one', { callback: (_e, m) => { m.respond(te.encode(`re:${td.decode(m.data)}`)); } });
  await responder.flush();
  const mux = new RequestMux(nc);
  try {
    const reply = await withDeadline(mux.request('echo.one', te.encode('hi'), 5000, send), 10_000, 'the reply');
    assert.equal(td.decode(reply.data), 're:hi');
    assert.equal(mux.waiting, 0);
  } finally {
    mux.close();
    sub.unsubscribe();
  }
});

test('replies answered in reverse order reach the request each belongs to', async () => {
  const held: { reply: string; data: Uint8Array }[] = [];
  const sub = responder.subscribe('echo.held', {
    callback: (_e, m) => {
      held.push({ reply: m.reply ?? '', data: m.data });
      if (held.length === 20) for (const h of held.reverse()) responder.publish(h.reply, h.data);
    },
  });
  await responder.flush();
  const mux = new RequestMux(nc);
  try {
    const all = Array.from({ length: 20 }, (_, i) => mux.request('echo.held', te.encode(String(i)), 5000, send));
    const replies = await withDeadline(Promise.all(all), 10_000, 'all 20 replies');
    assert.deepEqual(replies.map((r) => td.decode(r.data)), Array.from({ length: 20 }, (_, i) => String(i)));
  } finally {
    mux.close();
    sub.unsubscribe();
  }
});

test('a subject nobody listens on fails at once with no responders', async () => {
  const mux = new RequestMux(nc);
  try {
    const started = performance.now();
    await assert.rejects(withDeadline(mux.request('nobody.here', te.encode('x'), 30_000, send), 10_000, 'the failure'), (e: unknown) => {
      assert.ok(e instanceof NoRespondersError);
      assert.equal(e.subject, 'nobody.here');
      return true;
    });
    assert.ok(performance.now() - started < 10_000);
    assert.equal(mux.waiting, 0);
  } finally {
    mux.close();
  }
});

test('a request nobody answers times out with an error naming subject and time, and a late reply is ignored', async () => {
  let late: (() => void) | undefined;
  const sub = responder.subscribe('slow.one', { callback: (_e, m) => { late = () => m.respond(te.encode('late')); } });
  await responder.flush();
  const mux = new RequestMux(nc, 10);
  try {
    await assert.rejects(mux.request('slow.one', te.encode('x'), 100, send), (e: unknown) => {
      assert.ok(e instanceof RequestTimeoutError);
      assert.equal(e.subject, 'slow.one');
      assert.equal(e.timeoutMs, 100);
      return true;
    });
    assert.ok(late !== undefined, 'the responder saw the request');
    late();
    // The next request still works after a late reply came for a request that is gone.
    sub.unsubscribe();
    const sub2 = responder.subscribe('slow.one', { callback: (_e, m) => { m.respond(te.encode('ok')); } });
    await responder.flush();
    const r = await withDeadline(mux.request('slow.one', te.encode('y'), 5000, send), 10_000, 'the second reply');
    assert.equal(td.decode(r.data), 'ok');
    sub2.unsubscribe();
  } finally {
    mux.close();
  }
});

test('closing fails what waits and refuses new requests; a send that throws fails only its request', async () => {
  const sub = responder.subscribe('never.answers', { callback: () => undefined });
  await responder.flush();
  const mux = new RequestMux(nc);
  const waiting = mux.request('never.answers', te.encode('x'), 60_000, send);
  const thrown = mux.request('x', te.encode('x'), 60_000, () => {
    throw new Error('send refused');
  });
  await assert.rejects(thrown, /send refused/);
  assert.equal(mux.waiting, 1);
  mux.close();
  await assert.rejects(waiting, (e: unknown) => e instanceof RequestsClosedError && e.subject === 'never.answers');
  await assert.rejects(mux.request('never.answers', te.encode('x'), 1000, send), RequestsClosedError);
  mux.close();
  sub.unsubscribe();
});
