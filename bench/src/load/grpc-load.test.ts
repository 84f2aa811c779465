import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { http2Caller, type Caller } from './grpc-load.js';

type Seen = { jid: string; authorization: string; deadlineSet: boolean };

/** A grpc-js server whose GetPresence answers a@x, fails b@x with NOT_FOUND and c@x with details in trailing metadata. */
async function server(seen: Seen[]): Promise<{ port: number; stop(): Promise<void> }> {
  const s = new Server();
  const impl: Record<string, unknown> = {};
  for (const k of Object.keys(api.presence.PresenceServiceService)) impl[k] = (_c: unknown, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED });
  impl.getPresence = (call: ServerUnaryCall<api.presence.GetPresenceRequest, api.presence.GetPresenceResponse>, cb: sendUnaryData<api.presence.GetPresenceResponse>) => {
    seen.push({ jid: call.request.jid, authorization: String(call.metadata.get('authorization')[0]), deadlineSet: call.getDeadline() !== Infinity });
    if (call.request.jid === 'a@x') return cb(null, { presence: { jid: 'a@x', resources: [], sequence: undefined } });
    if (call.request.jid === 'b@x') return cb({ code: status.NOT_FOUND, details: 'account b@x does not exist' });
    const md = new Metadata();
    md.set('x-detail', 'yes');
    return cb({ code: status.UNAVAILABLE, details: 'try later', metadata: md });
  };
  s.addService(api.presence.PresenceServiceService, impl as never);
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, stop: () => new Promise((resolve) => s.tryShutdown(() => resolve())) };
}

const call = (c: Caller, i: number) => new Promise<Error | null>((resolve) => c.call(i, resolve));

test('the lean HTTP/2 client reports a call as answered only for grpc-status 0 with a message, and names the status otherwise', async () => {
  const seen: Seen[] = [];
  const srv = await server(seen);
  const c = http2Caller({ address: `127.0.0.1:${srv.port}`, token: 'tok-abcdefghijklmnop', domain: 'x', users: 3, rate: 1, index: 0, of: 1, deadlineMs: 5000, client: 'http2' }, ['a@x', 'b@x', 'c@x']);
  try {
    assert.equal(await call(c, 0), null);
    const notFound = await call(c, 1);
    assert.match(String(notFound?.message), /^grpc-status 5: account b@x does not exist$/);
    const unavailable = await call(c, 2);
    assert.match(String(unavailable?.message), /^grpc-status 14: try later$/);
    assert.equal(await call(c, 0), null, 'the session serves further calls');
    assert.deepEqual(seen.map((s) => s.jid), ['a@x', 'b@x', 'c@x', 'a@x']);
    assert.ok(seen.every((s) => s.authorization === 'Bearer tok-abcdefghijklmnop' && s.deadlineSet), JSON.stringify(seen));
  } finally {
    c.close();
    await srv.stop();
  }
});

test('the lean HTTP/2 client fails a call when nothing listens', async () => {
  const srv = await server([]);
  const port = srv.port;
  await srv.stop();
  const c = http2Caller({ address: `127.0.0.1:${port}`, token: 't', domain: 'x', users: 1, rate: 1, index: 0, of: 1, deadlineMs: 1000, client: 'http2' }, ['a@x']);
  try {
    const err = await call(c, 0);
    assert.ok(err instanceof Error, 'an error');
    assert.match(err.message, /stream closed without an answer|grpc-status/);
  } finally {
    c.close();
  }
});
