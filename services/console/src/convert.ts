import { api } from '@vigil/proto';
import type { Cause, ChangeView, ClusterView, FeedEvent, LatencyView, LeaseState, NatsView, ResourceView, RosterItemView, Show, Subscription, UserView } from './view.js';

/** Proto → the JSON the browser reads. Pure: the tests walk every enum value. */

const P = api.presence;

const LEASE: Readonly<Record<number, LeaseState>> = {
  [api.cluster.LeaseState.LEASE_STATE_LIVE]: 'live',
  [api.cluster.LeaseState.LEASE_STATE_LATE]: 'late',
  [api.cluster.LeaseState.LEASE_STATE_EXPIRED]: 'expired',
};
const SHOW: Readonly<Record<number, Show>> = {
  [P.Show.SHOW_AVAILABLE]: 'available',
  [P.Show.SHOW_CHAT]: 'chat',
  [P.Show.SHOW_AWAY]: 'away',
  [P.Show.SHOW_XA]: 'xa',
  [P.Show.SHOW_DND]: 'dnd',
};
const CAUSE: Readonly<Record<number, Cause>> = {
  [P.ChangeCause.CHANGE_CAUSE_AVAILABLE]: 'available',
  [P.ChangeCause.CHANGE_CAUSE_GRACEFUL]: 'graceful',
  [P.ChangeCause.CHANGE_CAUSE_CLIENT_LOST]: 'client-lost',
  [P.ChangeCause.CHANGE_CAUSE_NODE_LOST]: 'node-lost',
  [P.ChangeCause.CHANGE_CAUSE_KICKED]: 'kicked',
};
const SUBSCRIPTION: Readonly<Record<number, Subscription>> = {
  [api.roster.Subscription.SUBSCRIPTION_NONE]: 'none',
  [api.roster.Subscription.SUBSCRIPTION_TO]: 'to',
  [api.roster.Subscription.SUBSCRIPTION_FROM]: 'from',
  [api.roster.Subscription.SUBSCRIPTION_BOTH]: 'both',
};

export const leaseState = (s: number): LeaseState => LEASE[s] ?? 'unknown';
export const show = (s: number): Show => SHOW[s] ?? 'unknown';
export const cause = (c: number): Cause => CAUSE[c] ?? 'unknown';
export const subscription = (s: number): Subscription => SUBSCRIPTION[s] ?? 'unknown';

/** A cause word from a query string → the proto enum; undefined when it is not one. */
export function causeFromWord(word: string): api.presence.ChangeCause | undefined {
  for (const [value, w] of Object.entries(CAUSE)) if (w === word) return Number(value) as api.presence.ChangeCause;
  return undefined;
}

/** ListNatsServers, or why it failed (a string). */
export function natsView(r: api.cluster.ListNatsServersResponse | string): NatsView {
  if (typeof r === 'string') return { servers: [], authorityId: '', clusterName: '', error: r };
  return {
    servers: r.servers.map((s) => ({
      address: s.address,
      configured: s.configured,
      discovered: s.discovered,
      reachable: s.reachable,
      connected: s.connected,
      serverName: s.serverName,
      version: s.version,
      probeMs: s.probeMs,
      error: s.error,
    })),
    authorityId: r.authorityId,
    clusterName: r.clusterName,
    error: '',
  };
}

/** GetDetectionMetrics, or why it failed (a string). */
export function latencyView(r: api.cluster.GetDetectionMetricsResponse | string, readAtUnixMs: number): LatencyView {
  if (typeof r === 'string') return { causes: [], fanOut: [], authorities: [], unanswered: [], readAtUnixMs, error: r };
  return {
    causes: r.detectionLatency.map((d) => ({
      cause: d.cause,
      histogram: { boundsSeconds: [...(d.histogram?.boundsSeconds ?? [])], counts: [...(d.histogram?.counts ?? [0])], sumSeconds: d.histogram?.sumSeconds ?? 0, count: d.histogram?.count ?? 0 },
    })),
    fanOut: r.fanOut.map((f) => ({ kind: f.kind, total: f.total, perSecond: f.perSecond })),
    authorities: r.authorities.map((a) => ({
      authorityId: a.authorityId,
      detections: a.detections,
      unavailableStanzas: a.unavailableStanzas,
      unavailablePerSecond: a.unavailablePerSecond,
      rateWindowMs: a.rateWindowMs,
      incompatible: a.incompatible,
    })),
    unanswered: [...r.unanswered],
    readAtUnixMs: r.readAtUnixMs > 0 ? r.readAtUnixMs : readAtUnixMs,
    error: '',
  };
}

export function clusterView(nodes: api.cluster.ListNodesResponse, shards: api.cluster.ListShardsResponse, readAtUnixMs: number): ClusterView {
  return {
    nodes: nodes.nodes.map((n) => ({
      nodeId: n.nodeId,
      incarnation: n.incarnation,
      lease: leaseState(n.leaseState),
      heartbeatAgeMs: n.lastHeartbeatAgeMs,
      sessions: n.sessions,
      shards: n.shards,
    })),
    shards: shards.shards.map((s) => ({ shard: s.shard, owner: s.ownerId, epoch: s.epoch, renewedAtUnixMs: s.renewedAtUnixMs })),
    owners: [...shards.owners],
    readAtUnixMs,
  };
}

export function resourceView(r: api.presence.ResourcePresence): ResourceView {
  return {
    fullJid: r.fullJid,
    resource: r.resource,
    show: show(r.show),
    status: r.status,
    priority: r.priority,
    nodeId: r.nodeId,
    sinceUnixMs: r.availableSinceUnixMs,
    sessionId: r.sessionId,
  };
}

function rosterItemView(i: api.roster.RosterItem): RosterItemView {
  return { jid: i.jid, name: i.name, subscription: subscription(i.subscription), pendingOut: i.pendingOut, approved: i.approved, groups: [...i.groups] };
}

export function userView(
  jid: string,
  presence: api.presence.GetPresenceResponse,
  sessions: api.presence.ListSessionsResponse,
  roster: api.roster.GetRosterResponse,
  lastSeen: api.presence.GetLastSeenResponse,
): UserView {
  return {
    jid,
    resources: (presence.presence?.resources ?? []).map(resourceView),
    sessions: sessions.sessions.map((s) => ({
      sessionId: s.sessionId,
      fullJid: s.fullJid,
      nodeId: s.nodeId,
      incarnation: s.nodeIncarnation,
      available: s.available,
      directedTo: [...s.directedTo],
    })),
    roster: roster.items.map(rosterItemView),
    pendingIn: roster.pendingIn.map((p) => ({ from: p.fromJid, receivedAtUnixMs: p.receivedAtUnixMs })),
    blocked: [...roster.blocked],
    lastSeen: { online: lastSeen.online, neverSeen: lastSeen.neverSeen, atUnixMs: lastSeen.lastSeenUnixMs, status: lastSeen.status },
  };
}

export function changeView(c: api.presence.PresenceChange): ChangeView {
  return {
    jid: c.jid,
    resource: c.resource,
    available: c.available,
    cause: cause(c.cause),
    presence: c.presence ? resourceView(c.presence) : undefined,
    sequence: `${c.sequence?.epoch ?? 0}:${c.sequence?.counter ?? 0}`,
    atUnixMs: c.changedAtUnixMs,
  };
}

/** One WatchPresence event for the browser; undefined for an event this version does not know. */
export function feedEvent(r: api.presence.WatchPresenceResponse): FeedEvent | undefined {
  const e = r.event;
  if (e?.$case === 'snapshot') return { kind: 'snapshot', jid: e.snapshot.jid, resources: e.snapshot.resources.map(resourceView) };
  if (e?.$case === 'change') return { kind: 'change', ...changeView(e.change) };
  return undefined;
}
