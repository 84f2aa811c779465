import { counter, gauge, histogram, LATENCY_BUCKETS_S, type Attributes } from '@vigil/telemetry';

/** Fan-outs range from one contact to a whole node's sessions. */
const FANOUT_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/**
 * Attribute objects of the hot paths, made once: the SDK hashes attributes
 * on every call, and a fresh object per stanza would add garbage to that.
 */
const attrs = <K extends string>(key: K, values: readonly string[]): Map<string, Readonly<Record<K, string>>> =>
  new Map(values.map((v) => [v, Object.freeze({ [key]: v } as Record<K, string>)]));
const KIND = attrs('kind', ['available', 'unavailable']);
const WHAT = attrs('what', ['broadcast', 'end', 'node-expiry']);
const CAUSE = attrs('cause', ['graceful', 'client-lost', 'node-lost', 'kicked', 'unspecified']);
/** Methods whose attribute objects are kept; past it (never, with the API's 30-odd methods) they are made per call. */
const GRPC_ATTRS_MAX = 100;
const of = <K extends string>(m: Map<string, Readonly<Record<K, string>>>, key: K, v: string): Attributes => m.get(v) ?? { [key]: v };

/**
 * Instrument names read back by GetDetectionMetrics (detection-metrics.ts). The instruments below spell
 * them out too, because the metric catalogue (test/src/infra/observability.test.ts) reads the literal
 * calls; test/src/grpc.test.ts compares the API with /metrics, so a drift between the two fails there.
 */
export const DETECTION_LATENCY = 'vigil_authority_detection_latency_seconds';
export const FANOUT_STANZAS = 'vigil_authority_fanout_stanzas';

/** What the gauges read at scrape time; each source is cheap or bounded by the number of nodes. */
export interface AuthorityGaugeSources {
  /** Sessions in the registry, per connection node. */
  sessionsByNode(): ReadonlyMap<string, number>;
  /** Node incarnations holding a live lease. */
  liveLeases(): number;
  /** Longest silence (ms) of any node holding a lease, now. */
  maxHeartbeatSilenceMs(): number;
  shardsOwned(): number;
  /** User queues with work pending, and sessions waiting in mass expiries: the fan-out backlog. */
  pendingUsers(): number;
  expiryBacklog(): number;
}

/**
 * Every instrument of a presence authority, by name (docs/operations.md lists
 * them). Per-stanza paths only add to counters or record into histograms.
 */
export class AuthorityMetrics {
  readonly #sessionsEnded = counter('vigil_authority_sessions_ended', 'Sessions announced unavailable, by cause (graceful, client-lost, node-lost, kicked)');
  readonly #detection = histogram(
    'vigil_authority_detection_latency_seconds',
    'From the evidence of a death to its unavailable fan-out: the last heartbeat of a lost node, or the arrival of a node\'s end event',
    LATENCY_BUCKETS_S,
  );
  readonly #fanOutStanzas = counter('vigil_authority_fanout_stanzas', 'Presence stanzas published to recipients, by kind (available, unavailable)');
  readonly #fanOutDuration = histogram('vigil_authority_fanout_duration_seconds', 'Time to decide and publish one fan-out, by what (broadcast, end, node-expiry)', FANOUT_BUCKETS_S);
  readonly #shardChanges = counter('vigil_authority_shard_changes', 'Shard ownership changes on this replica: acquired (a new epoch), released, lost');
  readonly #leaseExpiries = counter('vigil_authority_node_expiries', 'Node incarnations whose sessions were expired, by reason (lease-expired, replaced)');
  readonly #heartbeatInterval = histogram('vigil_authority_heartbeat_interval_seconds', 'Time between consecutive heartbeats of one node incarnation', LATENCY_BUCKETS_S);
  readonly #kvErrors = counter('vigil_kv_errors', 'Failed KV operations, by bucket and operation');
  readonly #grpcCalls = counter('vigil_grpc_server_calls', 'gRPC calls answered, by method and status code');
  readonly #grpcDuration = histogram('vigil_grpc_server_duration_seconds', 'gRPC call duration (unary calls; streams until they end), by method', LATENCY_BUCKETS_S);
  readonly #stops: (() => void)[] = [];
  /** Attribute objects per gRPC method and status, made once (see `attrs` above). */
  readonly #grpcAttrs = new Map<string, { readonly method: Attributes; readonly byCode: Map<string, Attributes> }>();

  constructor(private readonly settings: { readonly shardCount: number; readonly nodeLeaseMs: number }) {}

  sessionEnded(cause: string): void {
    this.#sessionsEnded.add(1, of(CAUSE, 'cause', cause));
  }

  detected(cause: string, latencyMs: number): void {
    this.#detection.record(latencyMs / 1000, of(CAUSE, 'cause', cause));
  }

  fannedOut(kind: 'available' | 'unavailable', stanzas: number): void {
    if (stanzas > 0) this.#fanOutStanzas.add(stanzas, of(KIND, 'kind', kind));
  }

  fanOutTook(what: 'broadcast' | 'end' | 'node-expiry', ms: number): void {
    this.#fanOutDuration.record(ms / 1000, of(WHAT, 'what', what));
  }

  shardChanged(change: 'acquired' | 'released' | 'lost'): void {
    this.#shardChanges.add(1, { change });
  }

  nodeExpired(reason: string): void {
    this.#leaseExpiries.add(1, { reason });
  }

  heartbeatInterval(ms: number): void {
    this.#heartbeatInterval.record(ms / 1000);
  }

  kvError(bucket: string, op: string): void {
    this.#kvErrors.add(1, { bucket, op });
  }

  grpcCall(method: string, code: string, ms: number): void {
    let m = this.#grpcAttrs.get(method);
    if (m === undefined) {
      m = { method: Object.freeze({ method }), byCode: new Map() };
      // Bounded by the methods the server registered (unknown paths are answered before any handler) …
      if (this.#grpcAttrs.size < GRPC_ATTRS_MAX) this.#grpcAttrs.set(method, m);
    }
    let attrs = m.byCode.get(code);
    if (attrs === undefined) {
      attrs = Object.freeze({ method, code });
      // … and by the 17 status codes.
      m.byCode.set(code, attrs);
    }
    this.#grpcCalls.add(1, attrs);
    this.#grpcDuration.record(ms / 1000, m.method);
  }

  /** Starts the gauges; `stop()` ends them. */
  observe(s: AuthorityGaugeSources): void {
    const { shardCount, nodeLeaseMs } = this.settings;
    this.#stops.push(
      gauge('vigil_authority_sessions', 'Sessions in this replica\'s registry, by connection node', (report) => {
        for (const [node, n] of s.sessionsByNode()) report(n, { node });
      }),
      gauge('vigil_authority_node_leases', 'Node incarnations holding a live lease', (report) => report(s.liveLeases())),
      gauge('vigil_authority_heartbeat_silence_max_seconds', 'Longest time since the last heartbeat of any node holding a lease', (report) => report(s.maxHeartbeatSilenceMs() / 1000)),
      gauge('vigil_authority_node_lease_seconds', 'The configured node lease (VIGIL_NODE_LEASE_MS), for alerts', (report) => report(nodeLeaseMs / 1000)),
      gauge('vigil_authority_shards_owned', 'Shards this replica owns now', (report) => report(s.shardsOwned())),
      gauge('vigil_authority_shard_count', 'Shards in the cluster (VIGIL_SHARD_COUNT)', (report) => report(shardCount)),
      gauge('vigil_authority_pending_users', 'Users with presence work queued on this replica (fan-out backlog)', (report) => report(s.pendingUsers())),
      gauge('vigil_authority_expiry_backlog', 'Sessions of expired nodes still waiting for their unavailable fan-out', (report) => report(s.expiryBacklog())),
    );
  }

  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
  }
}
