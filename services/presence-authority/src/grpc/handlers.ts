import { status, type handleUnaryCall, type Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '@vigil/telemetry';
import type { TokenAuthenticator } from './auth.js';
import { ApiError } from './errors.js';
import type { Scope } from './tokens.js';

/** What every service implementation shares. */
export interface HandlerContext {
  readonly auth: TokenAuthenticator;
  readonly log: Logger;
}

/**
 * A unary handler: authenticate for `scope`, run `fn`, answer. ApiErrors are
 * statuses the client should see; anything else is logged here, once, and
 * answered INTERNAL without its text.
 */
export function unary<Req, Res>(
  ctx: HandlerContext,
  method: string,
  scope: Scope,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    void (async () => {
      try {
        const token = ctx.auth.authenticate(call.metadata, scope);
        const res = await fn(call.request, call);
        ctx.log.debug('grpc call', { method, token: token.name });
        callback(null, res);
      } catch (e) {
        callback(asApiError(e, ctx.log, method).toStatus());
      }
    })();
  };
}

export function asApiError(e: unknown, log: Logger, method: string): ApiError {
  if (e instanceof ApiError) return e;
  log.error('grpc call failed', { method, err: e });
  return new ApiError(status.INTERNAL, 'internal error');
}

/** Authenticates a streaming call; the caller ends the stream with the error. */
export function authenticateStream(ctx: HandlerContext, metadata: Metadata, scope: Scope): void {
  ctx.auth.authenticate(metadata, scope);
}
