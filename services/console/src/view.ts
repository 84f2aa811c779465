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

export interface ClusterView {
  readonly nodes: readonly NodeView[];
  readonly shards: readonly ShardView[];
  readonly owners: readonly string[];
  /** When the console read it (ms since the epoch). */
  readonly readAtUnixMs: number;
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
