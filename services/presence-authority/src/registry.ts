import { digestAdd, digestKey, digestRemove, EMPTY_DIGEST, type SessionDigest } from '@vigil/cluster';
import type { SessionPresence } from '@vigil/roster';

/** What the authority knows of one announced session. */
export interface SessionRecord extends SessionPresence {
  readonly sessionId: string;
  readonly fullJid: string;
  readonly bareJid: string;
  readonly shard: number;
  readonly nodeId: string;
  readonly incarnation: string;
  available: boolean;
  /** The last broadcast presence, stamped with the full JID, no 'to'. */
  presenceXml: string;
  priority: number;
  /** BroadcastPresence.seq of the last broadcast; with the id, what the digests count. */
  presenceSeq: number;
  /** Wall clock when the session last became available (0: unknown), for the gRPC API. */
  availableSinceUnixMs: number;
  /** RFC 6121 §4.6: who got directed presence (NO_JIDS until someone did; change with jidsWith/jidsWithout). */
  directedTo: ReadonlySet<string>;
  /** §4.4.2: contacts that answered a broadcast with an error (NO_JIDS until one did). */
  presenceErrorsFrom: ReadonlySet<string>;
}

/**
 * The empty set every record starts with: two empty Sets per session were
 * a third of the authority's memory per idle session (a Set and its hash
 * table cost about 250 bytes even when empty), and nearly all stay empty.
 */
export const NO_JIDS: ReadonlySet<string> = Object.freeze(new Set<string>());

/** `set` with `jid` added: a new Set in place of NO_JIDS, otherwise the same set, grown. */
export function jidsWith(set: ReadonlySet<string>, jid: string): ReadonlySet<string> {
  if (set === NO_JIDS) return new Set([jid]);
  (set as Set<string>).add(jid);
  return set;
}

/** `set` without `jid`; NO_JIDS once it is empty. */
export function jidsWithout(set: ReadonlySet<string>, jid: string): ReadonlySet<string> {
  if (set === NO_JIDS || !set.has(jid)) return set;
  (set as Set<string>).delete(jid);
  return set.size === 0 ? NO_JIDS : set;
}

/** The sessions of one node incarnation, with the node id and incarnation strings its records share. */
interface IncarnationGroup {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly records: Set<SessionRecord>;
}

/**
 * Announced sessions of the shards this authority owns, indexed by user, by
 * session id and by node incarnation, with the per-shard digest each node
 * incarnation should be reporting.
 *
 * Kept small, since it holds every session of the cluster's owned shards:
 * a user with one session (nearly all) maps to the record itself, not to a
 * collection of one; records of one node incarnation share its id strings
 * (canonicalIncarnation).
 */
export class SessionRegistry {
  readonly #byId = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, SessionRecord | SessionRecord[]>();
  readonly #byIncarnation = new Map<string, IncarnationGroup>();
  readonly #digests = new Map<string, SessionDigest>();

  get size(): number {
    return this.#byId.size;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.#byId.get(sessionId);
  }

  /**
   * The node id and incarnation strings the registry's records of this
   * incarnation already use (the arguments themselves when it has none):
   * a record built with these shares them instead of holding its own copies
   * decoded from each event.
   */
  canonicalIncarnation(nodeId: string, incarnation: string): { readonly nodeId: string; readonly incarnation: string } {
    return this.#byIncarnation.get(incarnationKey(nodeId, incarnation)) ?? { nodeId, incarnation };
  }

  add(record: SessionRecord): void {
    if (this.#byId.has(record.sessionId)) return;
    this.#byId.set(record.sessionId, record);
    const user = this.#byUser.get(record.bareJid);
    if (user === undefined) this.#byUser.set(record.bareJid, record);
    else if (Array.isArray(user)) user.push(record);
    else this.#byUser.set(record.bareJid, [user, record]);
    const inc = incarnationKey(record.nodeId, record.incarnation);
    let group = this.#byIncarnation.get(inc);
    if (!group) this.#byIncarnation.set(inc, (group = { nodeId: record.nodeId, incarnation: record.incarnation, records: new Set() }));
    group.records.add(record);
    const dk = shardDigestKey(record.nodeId, record.incarnation, record.shard);
    this.#digests.set(dk, digestAdd(this.#digests.get(dk) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq)));
  }

  remove(record: SessionRecord): boolean {
    if (this.#byId.get(record.sessionId) !== record) return false;
    this.#byId.delete(record.sessionId);
    const user = this.#byUser.get(record.bareJid);
    if (user === record) this.#byUser.delete(record.bareJid);
    else if (Array.isArray(user)) {
      const rest = user.filter((r) => r !== record);
      this.#byUser.set(record.bareJid, rest.length === 1 ? (rest[0] as SessionRecord) : rest);
    }
    const inc = incarnationKey(record.nodeId, record.incarnation);
    const group = this.#byIncarnation.get(inc);
    group?.records.delete(record);
    if (group?.records.size === 0) this.#byIncarnation.delete(inc);
    const dk = shardDigestKey(record.nodeId, record.incarnation, record.shard);
    const d = digestRemove(this.#digests.get(dk) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq));
    if (d.count === 0) this.#digests.delete(dk);
    else this.#digests.set(dk, d);
    return true;
  }

  /** Records the session's latest broadcast number, keeping its digest in step. */
  setPresenceSeq(record: SessionRecord, seq: number): void {
    if (this.#byId.get(record.sessionId) !== record || record.presenceSeq === seq) {
      record.presenceSeq = seq;
      return;
    }
    const dk = shardDigestKey(record.nodeId, record.incarnation, record.shard);
    let d = digestRemove(this.#digests.get(dk) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq));
    record.presenceSeq = seq;
    d = digestAdd(d, digestKey(record.sessionId, seq));
    this.#digests.set(dk, d);
  }

  /** Forgets every session of a shard handed to another owner (nothing is announced). */
  removeShard(shard: number): SessionRecord[] {
    const gone = [...this.#byId.values()].filter((r) => r.shard === shard);
    for (const r of gone) this.remove(r);
    return gone;
  }

  /** Sessions per connection node (all its incarnations here), for the sessions gauge: O(incarnations). */
  countByNode(): Map<string, number> {
    const out = new Map<string, number>();
    for (const g of this.#byIncarnation.values()) out.set(g.nodeId, (out.get(g.nodeId) ?? 0) + g.records.size);
    return out;
  }

  all(): IterableIterator<SessionRecord> {
    return this.#byId.values();
  }

  /** The user's sessions in the order they were added; a copy the caller may keep while the registry changes. */
  sessionsOf(bareJid: string): SessionRecord[] {
    const user = this.#byUser.get(bareJid);
    if (user === undefined) return [];
    return Array.isArray(user) ? [...user] : [user];
  }

  sessionsOfIncarnation(nodeId: string, incarnation: string): SessionRecord[] {
    return [...(this.#byIncarnation.get(incarnationKey(nodeId, incarnation))?.records ?? [])];
  }

  /** Incarnations of `nodeId` other than `incarnation` that still have sessions here. */
  otherIncarnations(nodeId: string, incarnation: string): string[] {
    const out: string[] = [];
    for (const g of this.#byIncarnation.values()) if (g.nodeId === nodeId && g.incarnation !== incarnation) out.push(g.incarnation);
    return out;
  }

  digest(nodeId: string, incarnation: string, shard: number): SessionDigest {
    return this.#digests.get(shardDigestKey(nodeId, incarnation, shard)) ?? EMPTY_DIGEST;
  }

  /** Shards in which this incarnation has sessions, as far as the registry knows. */
  shardsOf(nodeId: string, incarnation: string): Set<number> {
    const out = new Set<number>();
    for (const r of this.#byIncarnation.get(incarnationKey(nodeId, incarnation))?.records ?? []) out.add(r.shard);
    return out;
  }
}

function incarnationKey(nodeId: string, incarnation: string): string {
  return `${nodeId}\u0000${incarnation}`;
}

function shardDigestKey(nodeId: string, incarnation: string, shard: number): string {
  return `${nodeId}\u0000${incarnation}\u0000${shard}`;
}
