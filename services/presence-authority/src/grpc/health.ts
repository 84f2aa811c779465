import type { ServerWritableStream } from '@grpc/grpc-js';
import { health } from '@vigil/proto';
import { ApiError } from './errors.js';

const S = health.HealthCheckResponse_ServingStatus;
type Status = health.HealthCheckResponse_ServingStatus;
type WatchCall = ServerWritableStream<health.HealthCheckRequest, health.HealthCheckResponse>;

/**
 * grpc.health.v1 for every service this server offers and for "" (the
 * server). Unauthenticated on purpose: load balancers and Kubernetes probes
 * send no token, and a serving status reveals nothing. NOT_SERVING while the
 * replica has no NATS connection, since every call would fail then.
 */
export class HealthService {
  #status: Status = S.SERVING;
  readonly #watchers = new Set<{ call: WatchCall; service: string }>();

  constructor(private readonly services: readonly string[]) {}

  set(serving: boolean): void {
    const next = serving ? S.SERVING : S.NOT_SERVING;
    if (next === this.#status) return;
    this.#status = next;
    for (const w of this.#watchers) w.call.write({ status: this.#statusOf(w.service) });
  }

  /** Ends every Watch stream (server shutdown). */
  close(): void {
    for (const w of this.#watchers) w.call.end();
    this.#watchers.clear();
  }

  #statusOf(service: string): Status {
    return service === '' || this.services.includes(service) ? this.#status : S.SERVICE_UNKNOWN;
  }

  implementation(): health.HealthServer {
    return {
      check: (call, callback) => {
        const s = this.#statusOf(call.request.service);
        if (s === S.SERVICE_UNKNOWN) return callback(ApiError.notFound('service', call.request.service).toStatus());
        callback(null, { status: s });
      },
      watch: (call) => {
        const w = { call, service: call.request.service };
        this.#watchers.add(w);
        call.on('cancelled', () => this.#watchers.delete(w));
        call.write({ status: this.#statusOf(w.service) });
      },
    };
  }
}

