import { performance } from 'node:perf_hooks';
import { counter, gauge, histogram, LATENCY_BUCKETS_S, recordSpan } from '@vigil/telemetry';

/** What the node's gauges read at scrape time. */
export interface NodeGaugeSources {
  /** Bound sessions (resources) on this node. */
  sessions(): number;
  /** Client streams open, bound or not. */
  streams(): number;
}

/**
 * Every instrument of a connection node, by name (docs/operations.md lists
 * them). Per-stanza paths only ever add to a counter; spans are for logins.
 */
export class NodeMetrics {
  readonly #streamErrors = counter('vigil_node_stream_errors', 'Stream errors sent to clients, by RFC 6120 condition');
  readonly #logins = counter('vigil_node_logins', 'Resources bound (completed logins)');
  readonly #loginDuration = histogram('vigil_node_login_duration_seconds', 'From connection to bound resource (TLS, SASL, bind)', LATENCY_BUCKETS_S);
  readonly #accepted = counter('vigil_node_connections_accepted', 'Client connections accepted, by listener (tcp, direct-tls, websocket)');
  readonly #fences = counter('vigil_node_self_fences', 'Times this node fenced itself (ended every stream, new incarnation)');
  readonly #stops: (() => void)[] = [];

  constructor(private readonly nodeId: string) {}

  streamError(condition: string): void {
    this.#streamErrors.add(1, { condition });
  }

  /** A resource was bound; `openedMs` is the stream's start on the monotonic clock. */
  loggedIn(openedMs: number): void {
    const ms = performance.now() - openedMs;
    this.#logins.add(1);
    this.#loginDuration.record(ms / 1000);
    recordSpan('vigil.xmpp.login', Date.now() - ms, { 'vigil.node': this.nodeId });
  }

  accepted(listener: 'tcp' | 'direct-tls' | 'websocket'): void {
    this.#accepted.add(1, { listener });
  }

  fenced(): void {
    this.#fences.add(1);
  }

  observe(s: NodeGaugeSources): void {
    const node = { node: this.nodeId };
    this.#stops.push(
      gauge('vigil_node_sessions', 'Bound sessions on this connection node', (report) => report(s.sessions(), node)),
      gauge('vigil_node_streams', 'Open client streams on this connection node, bound or not', (report) => report(s.streams(), node)),
    );
  }

  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
  }
}
