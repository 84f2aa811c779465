import type { StreamErrorCondition } from '@vigil/xmpp';
import type { cluster } from '@vigil/proto';
import type { ClientStream } from './client-stream.js';

/**
 * Every client stream of the node, whichever listener accepted it: one place
 * to end them all (self-fencing, shutdown) and to walk them for liveness, so
 * no listener keeps its own copy and no stream needs a timer of its own.
 */
export class StreamSet {
  readonly #streams = new Set<ClientStream>();

  get size(): number {
    return this.#streams.size;
  }

  add(stream: ClientStream): void {
    this.#streams.add(stream);
  }

  delete(stream: ClientStream): void {
    this.#streams.delete(stream);
  }

  /** Ends every stream with a stream error; each session is announced with `cause`. */
  endAll(condition: StreamErrorCondition, text: string, cause: cluster.EndCause): void {
    for (const stream of [...this.#streams]) stream.fail(condition, text, cause);
  }

  /** Idle pings, ping timeouts and authentication timeouts (ClientStream.checkLiveness). */
  sweep(nowMs: number, idlePingMs: number, pingTimeoutMs: number): void {
    for (const stream of [...this.#streams]) stream.checkLiveness(nowMs, idlePingMs, pingTimeoutMs);
  }
}
