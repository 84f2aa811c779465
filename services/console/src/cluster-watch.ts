import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { Logger } from '@vigil/telemetry';
import { ClusterApi, isServiceError, statusName } from './cluster-api.js';
import { clusterView, latencyView, natsView } from './convert.js';
import type { EventStream } from './sse.js';
import type { LinkStatus } from './view.js';

/**
 * The live overview: one reader per token re-reads ListNodes, ListShards,
 * ListNatsServers and GetDetectionMetrics every `refreshMs` (at least a
 * second; the next read starts only after the previous one ended) while at
 * least one browser stream of that token is open, and sends each result to
 * all of them (`cluster`, `nats` and `latency` events). Opening ten tabs does not
 * read ten times as often.
 */
export class ClusterWatch {
  readonly #readers = new Map<string, Reader>();

  constructor(
    readonly api: ClusterApi,
    readonly refreshMs: number,
    readonly log: Logger,
  ) {}

  subscribe(token: string, stream: EventStream, onRefused: () => void): void {
    const key = createHash('sha256').update(token).digest('hex');
    let r = this.#readers.get(key);
    if (r === undefined) {
      r = new Reader(this, token, () => this.#readers.delete(key));
      this.#readers.set(key, r);
    }
    r.add(stream, onRefused);
  }

  close(): void {
    for (const r of [...this.#readers.values()]) r.stop();
  }
}

class Reader {
  readonly #streams = new Map<EventStream, () => void>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #last: unknown;
  #lastNats: unknown;
  #lastLatency: unknown;
  #status: LinkStatus | undefined;

  constructor(
    readonly watch: ClusterWatch,
    readonly token: string,
    readonly onEmpty: () => void,
  ) {
    void this.#tick();
  }

  add(stream: EventStream, onRefused: () => void): void {
    this.#streams.set(stream, onRefused);
    stream.onClose(() => {
      this.#streams.delete(stream);
      if (this.#streams.size === 0) this.stop();
    });
    // A stream that joins a running reader gets what the others already know.
    if (this.#status !== undefined) stream.send('status', this.#status);
    if (this.#last !== undefined) stream.send('cluster', this.#last);
    if (this.#lastNats !== undefined) stream.send('nats', this.#lastNats);
    if (this.#lastLatency !== undefined) stream.send('latency', this.#lastLatency);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const s of [...this.#streams.keys()]) s.close();
    this.onEmpty();
  }

  #broadcast(event: string, data: unknown): void {
    for (const s of this.#streams.keys()) s.send(event, data);
  }

  #setStatus(s: LinkStatus): void {
    this.#status = s;
    this.#broadcast('status', s);
  }

  async #tick(): Promise<void> {
    const started = performance.now();
    const { api } = this.watch;
    try {
      // NATS servers and metrics are panels of their own, read alongside: they never hold the nodes and
      // shards back, and an authority too old to answer them (UNIMPLEMENTED) leaves the rest of the
      // overview live while the panel says why. A refused token still ends everything (reasonOf rethrows).
      const panels = Promise.all([
        api.call(this.token, api.cluster.listNatsServers.bind(api.cluster), {}).catch(reasonOf),
        api.call(this.token, api.cluster.getDetectionMetrics.bind(api.cluster), {}).catch(reasonOf),
      ]);
      panels.catch(() => undefined); // handled below, or moot when the main reads failed first
      const [nodes, shards] = await Promise.all([
        api.call(this.token, api.cluster.listNodes.bind(api.cluster), {}),
        api.call(this.token, api.cluster.listShards.bind(api.cluster), {}),
      ]);
      if (this.#stopped) return;
      this.#last = clusterView(nodes, shards, Date.now());
      if (this.#status?.connected !== true) this.#setStatus({ connected: true, reason: '', retryInMs: 0 });
      this.#broadcast('cluster', this.#last);
      const [nats, latency] = await panels;
      if (this.#stopped) return;
      this.#lastNats = natsView(nats);
      this.#lastLatency = latencyView(latency, Date.now());
      this.#broadcast('nats', this.#lastNats);
      this.#broadcast('latency', this.#lastLatency);
    } catch (e) {
      if (this.#stopped) return;
      if (isServiceError(e) && (e.code === status.UNAUTHENTICATED || e.code === status.PERMISSION_DENIED)) {
        for (const onRefused of this.#streams.values()) onRefused();
        this.stop();
        return;
      }
      const reason = reasonText(e);
      if (this.#status?.connected !== false) this.watch.log.warn('cluster unreachable', { err: e });
      this.#setStatus({ connected: false, reason, retryInMs: this.watch.refreshMs });
    }
    if (this.#stopped) return;
    const wait = Math.max(0, this.watch.refreshMs - (performance.now() - started));
    this.#timer = setTimeout(() => void this.#tick(), wait);
  }
}

/** A failed call in words: the gRPC status and the server's message. */
function reasonText(e: unknown): string {
  return isServiceError(e) ? `${statusName(e.code)}: ${e.details}` : e instanceof Error ? e.message : String(e);
}

/** A panel's call failed: its reason, shown in the panel; a refused token still ends the whole stream. */
function reasonOf(e: unknown): string {
  if (isServiceError(e) && (e.code === status.UNAUTHENTICATED || e.code === status.PERMISSION_DENIED)) throw e;
  return reasonText(e);
}
