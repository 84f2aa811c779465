import { performance } from 'node:perf_hooks';
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import type { AuthorityMetrics } from '../metrics.js';

const CODE_NAME = new Map<number, string>(Object.entries(status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

/**
 * Counts every call by method and final status (`vigil_grpc_server_calls`)
 * and times it, whatever the handler does: the status a client sees is the
 * one recorded, including authentication failures and calls the client
 * cancelled. One server interceptor instead of code in each handler.
 */
export function metricsInterceptor(metrics: AuthorityMetrics): ServerInterceptor {
  return (method, call) => {
    const started = performance.now();
    const name = method.path.startsWith('/') ? method.path.slice(1) : method.path;
    let done = false;
    const finish = (code: string): void => {
      if (done) return;
      done = true;
      metrics.grpcCall(name, code, performance.now() - started);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => finish('CANCELLED') }),
      sendStatus: (s, next) => {
        finish(CODE_NAME.get(s.code) ?? String(s.code));
        next(s);
      },
    });
  };
}
