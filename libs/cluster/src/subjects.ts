import { deliveryToken } from './hash.js';

/**
 * Every NATS subject Vigil uses, under one prefix. Each family has one
 * builder here and nowhere else, so a reader can list the whole wire surface.
 */
export interface Subjects {
  readonly prefix: string;
  /** Node heartbeats: `<p>.hb.<nodeId>`. */
  heartbeat(nodeId: string): string;
  readonly allHeartbeats: string;
  /** Session events for a shard's owner: `<p>.shard.<n>.session`. */
  shardSession(shard: number): string;
  /** Presence probes to the contact's shard owner: `<p>.shard.<n>.probe`. */
  shardProbe(shard: number): string;
  /** IQs the server answers for a user of the shard (request/reply): `<p>.shard.<n>.iq`. */
  shardIq(shard: number): string;
  /** Inbound stanzas the user's owner must process (subscriptions, presence errors): `<p>.shard.<n>.inbound`. */
  shardInbound(shard: number): string;
  /** gRPC API reads and writes about users of the shard, forwarded to its owner (request/reply): `<p>.shard.<n>.admin`. */
  shardAdmin(shard: number): string;
  /** Imported roster records for users of the shard, to its owner (request/reply): `<p>.shard.<n>.import`. */
  shardImport(shard: number): string;
  /** Every shard subject of one kind, for an owner of all shards. */
  allShards(kind: ShardSubjectKind): string;
  /** Deliveries to one user's sessions, wherever they are: `<p>.deliver.<hash>`. */
  deliver(bareJid: string): string;
  /** Batched presence broadcasts to every connection node: `<p>.fanout`. */
  readonly fanOut: string;
  /** Session list requests to one node: `<p>.node.<nodeId>.sessions`. */
  nodeSessions(nodeId: string): string;
  /** An owner's request that a node end one session (request/reply): `<p>.node.<nodeId>.kick`. */
  nodeKick(nodeId: string): string;
  /** An authority declared this node's incarnation dead and heard from it since: `<p>.node.<nodeId>.retired`. */
  nodeRetired(nodeId: string): string;
  /** Presence changes of one user for WatchPresence, from its shard owner: `<p>.watch.<hash>`. */
  watch(bareJid: string): string;
  /** Every subject of one shard, for its owner: `<p>.shard.<n>.>`. */
  shardAll(shard: number): string;
  /** Authority replica heartbeats: `<p>.authority.hb.<id>`. */
  authorityHeartbeat(authorityId: string): string;
  readonly allAuthorityHeartbeats: string;
}

export type ShardSubjectKind = 'session' | 'probe' | 'iq' | 'inbound' | 'admin' | 'import';

const TOKEN = /^[A-Za-z0-9_-]+$/;

export class SubjectError extends Error {
  constructor(
    message: string,
    readonly value: string,
  ) {
    super(message);
    this.name = 'SubjectError';
  }
}

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new SubjectError(`${kind} must match ${TOKEN.source}`, value);
  return value;
}

export function subjects(prefix = 'vigil'): Subjects {
  for (const part of prefix.split('.')) token('subject prefix', part);
  return {
    prefix,
    heartbeat: (nodeId) => `${prefix}.hb.${token('node id', nodeId)}`,
    allHeartbeats: `${prefix}.hb.*`,
    shardSession: (shard) => `${prefix}.shard.${shard}.session`,
    shardProbe: (shard) => `${prefix}.shard.${shard}.probe`,
    shardIq: (shard) => `${prefix}.shard.${shard}.iq`,
    shardInbound: (shard) => `${prefix}.shard.${shard}.inbound`,
    shardAdmin: (shard) => `${prefix}.shard.${shard}.admin`,
    shardImport: (shard) => `${prefix}.shard.${shard}.import`,
    allShards: (kind) => `${prefix}.shard.*.${kind}`,
    deliver: (bareJid) => `${prefix}.deliver.${deliveryToken(bareJid)}`,
    fanOut: `${prefix}.fanout`,
    nodeSessions: (nodeId) => `${prefix}.node.${token('node id', nodeId)}.sessions`,
    nodeKick: (nodeId) => `${prefix}.node.${token('node id', nodeId)}.kick`,
    nodeRetired: (nodeId) => `${prefix}.node.${token('node id', nodeId)}.retired`,
    watch: (bareJid) => `${prefix}.watch.${deliveryToken(bareJid)}`,
    shardAll: (shard) => `${prefix}.shard.${shard}.>`,
    authorityHeartbeat: (id) => `${prefix}.authority.hb.${token('authority id', id)}`,
    allAuthorityHeartbeats: `${prefix}.authority.hb.*`,
  };
}

/** The shard number in a `<p>.shard.<n>.<kind>` subject. */
export function shardFromSubject(subject: string, prefix: string): number | undefined {
  const rest = subject.startsWith(`${prefix}.shard.`) ? subject.slice(prefix.length + 7) : undefined;
  if (rest === undefined) return undefined;
  const n = Number(rest.slice(0, rest.indexOf('.')));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** Node ids appear in subjects, so they are restricted to one subject token. */
export function isValidNodeId(nodeId: string): boolean {
  return TOKEN.test(nodeId) && nodeId.length <= 64;
}
