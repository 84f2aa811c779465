import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestOne, type MuxSubscription } from '@nats-io/nats-core/internal';
import type { Msg } from '@nats-io/transport-node';
import { skipErrorsOfAnsweredRequests } from './nats-requests.js';

function request(): { req: RequestOne; left: () => number } {
  let cancelled = 0;
  const mux = { cancel: () => void cancelled++ } as unknown as MuxSubscription;
  return { req: new RequestOne(mux, 'subject', { timeout: 10_000 }, false), left: () => cancelled };
}

test('answered requests still resolve, leave the mux and stop their timer; failures and cancels still reject', async () => {
  skipErrorsOfAnsweredRequests();
  skipErrorsOfAnsweredRequests();
  const answered = request();
  const msg = { data: new Uint8Array([1]) } as unknown as Msg;
  answered.req.resolver(null, msg);
  assert.equal(await answered.req.deferred, msg);
  assert.equal(answered.left(), 1);

  const failed = request();
  failed.req.resolver(new Error('no responders'), msg);
  await assert.rejects(failed.req.deferred, /no responders/);
  assert.equal(failed.left(), 1);

  const cancelled = request();
  cancelled.req.cancel();
  await assert.rejects(cancelled.req.deferred, /cancelled/);
  assert.equal(cancelled.left(), 1);
});
