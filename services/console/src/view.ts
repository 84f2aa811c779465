/**
 * What the console's HTTP API sends the browser: plain JSON shapes, no
 * protobuf details (enums become the lower-case words people read). Types
 * only, shared with the front end (web/tsconfig.json includes this file).
 */

export type Scope = 'read' | 'admin';
export type LeaseState = 'live' | 'late' | 'expired' | 'unknown';
export type Show = 'available' | 'chat' | 'away' | 'xa' | 'dnd' | 'unknown';
export type Cause = 'available' | 'graceful' | 'client-lost' | 'node-lost' | 'kicked' | 'unknown';
export type Subscription = 'none' | 'to' | 'from' | 'both' | 'unknown';

/** Every cause a feed can filter on, in the order the page lists them. */
export const CAUSES: readonly Cause[] = ['available', 'graceful', 'client-lost', 'node-lost', 'kicked'];

export interface Me {
  readonly scope: Scope;
  /** The dev cluster's demo panel, when the console was started with one. */
  readonly demo: DemoView | undefined;
}

export interface DemoView {
  readonly domain: string;
  readonly users: readonly { readonly username: string; readonly password: string; readonly wsUrl: string }[];
  readonly nodes: readonly { readonly nodeId: string; readonly wsUrl: string }[];
}

export interface NodeView {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly lease: LeaseState;
  readonly heartbeatAgeMs: number;
  readonly sessions: number;
  readonly shards: number;
}

export interface ShardView {
  readonly shard: number;
  /** Empty while the shard is handed over. */
  readonly owner: string;
  readonly epoch: number;
  readonly renewedAtUnixMs: number;
}

export interface NatsServerView {
  /** host:port. */
  readonly address: string;
  readonly configured: boolean;
  readonly discovered: boolean;
  readonly reachable: boolean;
  /** The answering authority's connection is to this server. */
  readonly connected: boolean;
  readonly serverName: string;
  readonly version: string;
  readonly probeMs: number;
  /** Why it is not reachable. */
  readonly error: string;
}

/** `nats` events on the cluster stream: ListNatsServers, the NATS servers as one authority replica knows them, each probed. */
export interface NatsView {
  readonly servers: readonly NatsServerView[];
  /** The replica that looked. */
  readonly authorityId: string;
  readonly clusterName: string;
  /** Why the list could not be read ('' when it was). */
  readonly error: string;
}

export interface ClusterView {
  readonly nodes: readonly NodeView[];
  readonly shards: readonly ShardView[];
  readonly owners: readonly string[];
  /** When the console read it (ms since the epoch). */
  readonly readAtUnixMs: number;
}

/** A histogram as the API gives it: bucket bounds in seconds and a count per bucket (one more count than bounds). */
export interface HistogramView {
  readonly boundsSeconds: readonly number[];
  readonly counts: readonly number[];
  readonly sumSeconds: number;
  readonly count: number;
}

export interface AuthorityLatencyView {
  readonly authorityId: string;
  readonly detections: number;
  readonly unavailableStanzas: number;
  readonly unavailablePerSecond: number;
  /** 0: no rate yet. */
  readonly rateWindowMs: number;
  /** Other histogram bounds (another version): not in the sums. */
  readonly incompatible: boolean;
}

/** `latency` events on the cluster stream: GetDetectionMetrics, every replica summed. */
export interface LatencyView {
  /** Detection latency per cause (graceful, client-lost, node-lost), ordered by cause. */
  readonly causes: readonly { readonly cause: string; readonly histogram: HistogramView }[];
  /** Presence stanzas fanned out, per kind (available, unavailable). */
  readonly fanOut: readonly { readonly kind: string; readonly total: number; readonly perSecond: number }[];
  readonly authorities: readonly AuthorityLatencyView[];
  /** Replicas alive that did not answer in time. */
  readonly unanswered: readonly string[];
  readonly readAtUnixMs: number;
  /** Why it could not be read ('' when it was); the rest is then empty. */
  readonly error: string;
}

export interface ResourceView {
  readonly fullJid: string;
  readonly resource: string;
  readonly show: Show;
  readonly status: string;
  readonly priority: number;
  readonly nodeId: string;
  readonly sinceUnixMs: number;
  readonly sessionId: string;
}

export interface RosterItemView {
  readonly jid: string;
  readonly name: string;
  readonly subscription: Subscription;
  readonly pendingOut: boolean;
  readonly approved: boolean;
  readonly groups: readonly string[];
}

export interface SessionView {
  readonly sessionId: string;
  readonly fullJid: string;
  readonly nodeId: string;
  readonly incarnation: string;
  /** False for a session that sent unavailable presence but is still connected. */
  readonly available: boolean;
  /** Entities that received directed presence from it (RFC 6121 §4.6). */
  readonly directedTo: readonly string[];
}

export interface UserView {
  readonly jid: string;
  readonly resources: readonly ResourceView[];
  readonly sessions: readonly SessionView[];
  readonly roster: readonly RosterItemView[];
  readonly pendingIn: readonly { readonly from: string; readonly receivedAtUnixMs: number }[];
  readonly blocked: readonly string[];
  readonly lastSeen: { readonly online: boolean; readonly neverSeen: boolean; readonly atUnixMs: number; readonly status: string };
}

export interface ChangeView {
  readonly jid: string;
  readonly resource: string;
  readonly available: boolean;
  readonly cause: Cause;
  readonly presence: ResourceView | undefined;
  readonly sequence: string;
  readonly atUnixMs: number;
}

/** Events on /api/presence/events. */
export type FeedEvent =
  | { readonly kind: 'snapshot'; readonly jid: string; readonly resources: readonly ResourceView[] }
  | ({ readonly kind: 'change' } & ChangeView);

/** `status` events on every stream: whether the console reaches the cluster right now. */
export interface LinkStatus {
  readonly connected: boolean;
  /** Why not, for people (the gRPC status and message). */
  readonly reason: string;
  /** The next attempt, in ms, when not connected. */
  readonly retryInMs: number;
}

/** Error bodies of the HTTP API. */
export interface ApiErrorBody {
  readonly error: string;
  /** The gRPC status name, or a console-level code (`no-session`, `bad-request`, …). */
  readonly code: string;
}
