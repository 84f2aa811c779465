/**
 * Leases of connection-node incarnations, as plain data over an injected
 * monotonic time. The authority feeds it heartbeats and asks, on its own
 * timer, which leases ran out; every decision is returned, none is acted on.
 */
export interface NodeLease {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly lastHeardMs: number;
  readonly expiresAtMs: number;
}

export type HeartbeatOutcome =
  /** First heartbeat of this incarnation. */
  | { readonly kind: 'new' }
  | { readonly kind: 'renewed' }
  /** A new incarnation of a known node: the old one is over at once. */
  | { readonly kind: 'replaced'; readonly previous: NodeLease }
  /** A heartbeat from an incarnation already replaced or expired: ignore it. */
  | { readonly kind: 'stale' };

export interface LeaseTableOptions {
  readonly leaseMs: number;
  /** How many ended incarnations to remember, so their late heartbeats are not taken as new. */
  readonly maxRetired?: number;
}

export class LeaseTable {
  readonly #leases = new Map<string, NodeLease>();
  /** Ended incarnations in insertion order; bounded: the oldest is forgotten first. */
  readonly #retired = new Set<string>();
  readonly #leaseMs: number;
  readonly #maxRetired: number;

  constructor(options: LeaseTableOptions) {
    if (!(options.leaseMs > 0)) throw new RangeError(`leaseMs must be > 0, got ${options.leaseMs}`);
    this.#leaseMs = options.leaseMs;
    this.#maxRetired = options.maxRetired ?? 4096;
  }

  heartbeat(nodeId: string, incarnation: string, nowMs: number): HeartbeatOutcome {
    if (this.#retired.has(retiredKey(nodeId, incarnation))) return { kind: 'stale' };
    const current = this.#leases.get(nodeId);
    const lease = { nodeId, incarnation, lastHeardMs: nowMs, expiresAtMs: nowMs + this.#leaseMs };
    this.#leases.set(nodeId, lease);
    if (current === undefined) return { kind: 'new' };
    if (current.incarnation === incarnation) return { kind: 'renewed' };
    this.#retire(current);
    return { kind: 'replaced', previous: current };
  }

  /**
   * A new shard owner found sessions of this incarnation in the durable
   * registry. Unlike a heartbeat, this is no evidence of life: it starts a
   * fresh lease only for an incarnation never heard of (so a dead node
   * expires one lease later), and never displaces a live one.
   */
  adopt(nodeId: string, incarnation: string, nowMs: number): 'live' | 'superseded' | 'ended' | 'started' {
    if (this.#retired.has(retiredKey(nodeId, incarnation))) return 'ended';
    const current = this.#leases.get(nodeId);
    if (current?.incarnation === incarnation) return 'live';
    if (current !== undefined) return 'superseded';
    this.#leases.set(nodeId, { nodeId, incarnation, lastHeardMs: nowMs, expiresAtMs: nowMs + this.#leaseMs });
    return 'started';
  }

  /** Leases whose time ran out at `nowMs`; they are removed and their incarnations retired. */
  expire(nowMs: number): NodeLease[] {
    const out: NodeLease[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.expiresAtMs <= nowMs) out.push(lease);
    }
    for (const lease of out) {
      this.#leases.delete(lease.nodeId);
      this.#retire(lease);
    }
    return out;
  }

  /**
   * Do not blame others for your own partition: after this process could not
   * hear (NATS down, event loop stalled), every node gets a fresh lease.
   */
  refreshAll(nowMs: number): void {
    for (const [nodeId, lease] of this.#leases) {
      this.#leases.set(nodeId, { ...lease, expiresAtMs: nowMs + this.#leaseMs });
    }
  }

  /** Is this incarnation currently holding a lease? */
  isLive(nodeId: string, incarnation: string): boolean {
    return this.#leases.get(nodeId)?.incarnation === incarnation;
  }

  get(nodeId: string): NodeLease | undefined {
    return this.#leases.get(nodeId);
  }

  list(): NodeLease[] {
    return [...this.#leases.values()];
  }

  /** Earliest expiry, so the shell can arm one timer instead of polling. */
  nextExpiryMs(): number | undefined {
    let next: number | undefined;
    for (const lease of this.#leases.values()) {
      if (next === undefined || lease.expiresAtMs < next) next = lease.expiresAtMs;
    }
    return next;
  }

  #retire(lease: NodeLease): void {
    this.#retired.add(retiredKey(lease.nodeId, lease.incarnation));
    if (this.#retired.size > this.#maxRetired) {
      const oldest = this.#retired.values().next().value;
      if (oldest !== undefined) this.#retired.delete(oldest);
    }
  }
}

function retiredKey(nodeId: string, incarnation: string): string {
  return `${nodeId}\u0000${incarnation}`;
}
