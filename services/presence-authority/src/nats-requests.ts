import { RequestOne } from '@nats-io/nats-core/internal';

/** Set on a request once it has its answer (a property: no side table to keep in step). */
const SETTLED = Symbol('vigil.settled');
type Marked = RequestOne & { [SETTLED]?: true };
let installed = false;

/**
 * nats.js 3.4 (RequestOne in @nats-io/nats-core) ends every answered request
 * with cancel(), which builds a RequestError, stack trace and all, only to
 * reject a promise that is already resolved. That error was 10 % of the
 * authority's CPU while it announced a mass disconnect (two JetStream writes
 * per ended session) and 7 ms of every second of shard-lock renewals. This
 * makes cancel() skip the error once the request has its answer; nothing
 * else changes (rejecting a settled promise does nothing). Idempotent.
 */
export function skipErrorsOfAnsweredRequests(): void {
  if (installed) return;
  installed = true;
  const proto = RequestOne.prototype;
  const { resolver, cancel } = proto;
  proto.resolver = function (this: Marked, err, msg) {
    this[SETTLED] = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: Marked, err) {
    if (err !== undefined || this[SETTLED] !== true) return cancel.call(this, err);
    // What cancel() does besides rejecting: stop the timer, leave the mux.
    this.timer?.cancel();
    this.mux.cancel(this);
  };
}
