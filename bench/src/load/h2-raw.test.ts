import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { api } from '@vigil/proto';
import { rawCaller, type Caller, type LoadJob } from './grpc-load.js';
import { RawCallError, RawGrpcClient, type RawGrpcOptions } from './h2-raw.js';

type Seen = { jid: string; authorization: string; deadlineSet: boolean };

/**
 * A grpc-js server that pings its clients every 50 ms (it drops a client that does not answer within a second) and
 * whose GetPresence answers a@x and any long JID about itself, w@x about someone else, fails b@x with NOT_FOUND and
 * anything else with UNAVAILABLE.
 */
async function grpcServer(seen: Seen[]): Promise<{ port: number; stop(): Promise<void> }> {
  const s = new Server({ 'grpc.keepalive_time_ms': 50, 'grpc.keepalive_timeout_ms': 1000, 'grpc.enable_channelz': 0 });
  const impl: Record<string, unknown> = {};
  for (const k of Object.keys(api.presence.PresenceServiceService)) impl[k] = (_c: unknown, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED });
  impl.getPresence = (call: ServerUnaryCall<api.presence.GetPresenceRequest, api.presence.GetPresenceResponse>, cb: sendUnaryData<api.presence.GetPresenceResponse>) => {
    const jid = call.request.jid;
    seen.push({ jid: jid.length > 100 ? `${jid.length} octets` : jid, authorization: String(call.metadata.get('authorization')[0]), deadlineSet: call.getDeadline() !== Infinity });
    if (jid === 'a@x' || jid.length > 100) return cb(null, { presence: { jid, resources: [], sequence: undefined } });
    if (jid === 'w@x') return cb(null, { presence: { jid: 'someone-else@x', resources: [], sequence: undefined } });
    if (jid === 'b@x') return cb({ code: status.NOT_FOUND, details: 'account b@x does not exist' });
    return cb({ code: status.UNAVAILABLE, details: 'try later: 100% busy' });
  };
  s.addService(api.presence.PresenceServiceService, impl as never);
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, stop: () => new Promise((resolve) => s.tryShutdown(() => resolve())) };
}

const job = (port: number, users: number): LoadJob => ({ address: `127.0.0.1:${port}`, token: 'tok-abcdefghijklmnop', domain: 'x', users, rate: 1, index: 0, of: 1, deadlineMs: 5000, client: 'raw' });
const call = (c: Caller, i: number) => new Promise<Error | null>((resolve) => c.call(i, resolve));

/** Resolves when `ok()` holds, checked now and each time the callback handed to `arm` fires; rejects after `ms`. */
function until(what: string, ms: number, arm: (fire: () => void) => void, ok: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    const fire = () => {
      if (!ok()) return;
      clearTimeout(timer);
      resolve();
    };
    arm(fire);
    fire();
  });
}

test('the raw client gets right answers from grpc-js, names a non-OK grpc-status and its code, and fails a wrong answer', async () => {
  const seen: Seen[] = [];
  const srv = await grpcServer(seen);
  const c = rawCaller(job(srv.port, 5), ['a@x', 'b@x', 'c@x', 'w@x', 'a@x']);
  try {
    assert.equal(await call(c, 0), null);
    const notFound = await call(c, 1);
    assert.ok(notFound instanceof RawCallError);
    assert.equal(notFound.code, status.NOT_FOUND);
    assert.equal(notFound.message, 'grpc-status 5: account b@x does not exist');
    const unavailable = await call(c, 2);
    assert.equal((unavailable as RawCallError).code, status.UNAVAILABLE);
    assert.equal(unavailable?.message, 'grpc-status 14: try later: 100% busy', 'grpc-message percent-decoded');
    const wrong = await call(c, 3);
    assert.match(String(wrong?.message), /^wrong answer: answer about "someone-else@x", asked about w@x$/);
    // Many at once on the one connection, interleaved answers.
    const many = await Promise.all(Array.from({ length: 300 }, (_, k) => call(c, k % 2 === 0 ? 0 : 4)));
    assert.deepEqual(many.filter((e) => e !== null), []);
    assert.equal(seen.length, 304);
    assert.ok(seen.every((s) => s.authorization === 'Bearer tok-abcdefghijklmnop' && s.deadlineSet), JSON.stringify(seen.slice(0, 3)));
  } finally {
    c.close();
    await srv.stop();
  }
});

const options = (port: number, more: Partial<RawGrpcOptions> = {}): RawGrpcOptions => ({
  host: '127.0.0.1', port, path: '/vigil.presence.v1.PresenceService/GetPresence', metadata: [['authorization', 'Bearer t']], deadlineMs: 5000,
  check: (_i, buf, start, end) => (api.presence.GetPresenceResponse.decode(buf.subarray(start, end)).presence?.jid.length ?? 0) > 0 ? null : 'empty', ...more,
});
const request = (jid: string): Buffer => {
  const m = api.presence.GetPresenceRequest.encode({ jid }).finish();
  const b = Buffer.alloc(5 + m.length);
  b.writeUInt32BE(m.length, 1);
  b.set(m, 5);
  return b;
};
const rawCall = (c: RawGrpcClient, payload: Buffer) => new Promise<Error | null>((resolve) => c.call(0, payload, resolve));

test("the raw client answers grpc-js's SETTINGS and keepalive PINGs and keeps serving; requests and answers over 64 KB pass flow control", async () => {
  const srv = await grpcServer([]);
  let pings = 0;
  let fire = () => undefined as void;
  const c = new RawGrpcClient(options(srv.port, { onPing: () => { pings += 1; fire(); } }));
  try {
    assert.equal(await rawCall(c, request('a@x')), null);
    assert.ok(c.stats.settingsReceived >= 1, 'the server sent SETTINGS');
    await until('5 server PINGs', 20_000, (f) => (fire = f), () => pings >= 5);
    assert.equal(await rawCall(c, request('a@x')), null, 'the server kept the connection: its PINGs were acknowledged');
    // 100,000 octets: more than the server's initial windows (65,535) and frame size (16,384) each way.
    const big = `${'z'.repeat(100_000)}@x`;
    const results = await Promise.all([rawCall(c, request(big)), rawCall(c, request(big)), rawCall(c, request('a@x'))]);
    assert.deepEqual(results, [null, null, null]);
    assert.ok(c.stats.dataBlocked >= 1, 'request DATA waited for window');
    assert.equal(c.stats.goaways, 0);
  } finally {
    c.close();
    await srv.stop();
  }
});

/** A plain node:http2 server whose handler the test supplies; it reports the most streams it ever had open at once. */
async function h2Server(settings: http2.Settings, handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void) {
  const server = http2.createServer({ settings });
  let open = 0;
  const peak = { streams: 0 };
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    open += 1;
    peak.streams = Math.max(peak.streams, open);
    stream.on('close', () => (open -= 1));
    stream.on('error', () => undefined);
    handler(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    peak,
    stop: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}

const okAnswer = (jid: string): Buffer => {
  const m = api.presence.GetPresenceResponse.encode({ presence: { jid, resources: [], sequence: undefined } }).finish();
  const b = Buffer.alloc(5 + m.length);
  b.writeUInt32BE(m.length, 1);
  b.set(m, 5);
  return b;
};

test('the raw client reports RST_STREAM and GOAWAY with their codes, and HTTP statuses other than 200', async () => {
  let n = 0;
  const srv = await h2Server({}, (stream, _h, session) => {
    stream.on('data', () => undefined);
    n += 1;
    if (n === 1) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else if (n === 2) {
      stream.respond({ ':status': 503 }, { endStream: true });
    } else if (n === 3) {
      // Refuses every stream after this one: the one asked (3rd, id 5) is not processed either.
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 3, Buffer.from('slow down'));
    }
  });
  const c = new RawGrpcClient(options(srv.port));
  try {
    assert.match(String((await rawCall(c, request('a@x')))?.message), /^RST_STREAM REFUSED_STREAM \(7\)$/);
    assert.match(String((await rawCall(c, request('a@x')))?.message), /^HTTP status 503$/);
    const goaway = await rawCall(c, request('a@x'));
    assert.match(String(goaway?.message), /^GOAWAY ENHANCE_YOUR_CALM \(11\) "slow down", stream 5 not processed$/);
    assert.match(String((await rawCall(c, request('a@x')))?.message), /^connection closing: GOAWAY ENHANCE_YOUR_CALM/, 'no new stream after GOAWAY');
  } finally {
    c.close();
    await srv.stop();
  }
});

test("the raw client keeps to the server's MAX_CONCURRENT_STREAMS, applies a mid-connection SETTINGS and PING, and reads trailers split into CONTINUATION frames", async () => {
  let pingAcked = false;
  let changed = false;
  const bigValue = 'v'.repeat(40_000);
  const srv = await h2Server({ maxConcurrentStreams: 2 }, (stream, headers, session) => {
    if (!changed) {
      changed = true;
      session.settings({ maxConcurrentStreams: 3, maxFrameSize: 20_000 });
      session.ping(Buffer.from('12345678'), (err) => {
        pingAcked = err === null;
      });
    }
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      const req = Buffer.concat(chunks);
      const jid = api.presence.GetPresenceRequest.decode(req.subarray(5)).jid;
      assert.equal(headers['content-type'], 'application/grpc');
      assert.equal(headers.te, 'trailers');
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-big': jid === 'big@x' ? bigValue : 'small' }));
      // Answer later, so that calls pile up against the limit.
      setTimeout(() => stream.end(okAnswer(jid)), 5);
    });
  });
  const c = new RawGrpcClient(options(srv.port));
  try {
    const results = await Promise.all(Array.from({ length: 40 }, (_, k) => rawCall(c, request(k === 7 ? 'big@x' : `u${k}@x`))));
    assert.deepEqual(results.filter((e) => e !== null), []);
    assert.ok(srv.peak.streams <= 3, `the server saw ${srv.peak.streams} streams at once`);
    assert.ok(srv.peak.streams >= 2, 'calls did run concurrently');
    assert.ok(pingAcked, "the server's PING was acknowledged");
    assert.ok(c.stats.settingsReceived >= 2, 'initial and changed SETTINGS');
    assert.ok(c.stats.continuationsReceived >= 2, `the 40 KB trailers came in CONTINUATION frames (${c.stats.continuationsReceived})`);
  } finally {
    c.close();
    await srv.stop();
  }
});

test('the raw client fails its calls when nothing listens, naming the socket error', async () => {
  const srv = await h2Server({}, () => undefined);
  const port = srv.port;
  await srv.stop();
  const c = new RawGrpcClient(options(port));
  try {
    const err = await rawCall(c, request('a@x'));
    assert.match(String(err?.message), /^connection closed: connect ECONNREFUSED/);
    assert.match(String((await rawCall(c, request('a@x')))?.message), /connection closed/);
  } finally {
    c.close();
  }
});

test('the raw client cancels a call the server leaves unanswered a second past its deadline, and the server sees CANCEL', async () => {
  let rstCode = -1;
  let closed = () => undefined as void;
  const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
  const srv = await h2Server({}, (stream) => {
    stream.on('data', () => undefined);
    stream.on('close', () => {
      rstCode = stream.rstCode ?? -1;
      closed();
    });
  });
  const c = new RawGrpcClient(options(srv.port, { deadlineMs: 100 }));
  try {
    const err = await rawCall(c, request('a@x'));
    assert.match(String(err?.message), /^no answer within 1100 ms \(sent RST_STREAM CANCEL\)$/);
    await serverSawClose;
    assert.equal(rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.equal(c.inFlight, 0);
  } finally {
    c.close();
    await srv.stop();
  }
});
