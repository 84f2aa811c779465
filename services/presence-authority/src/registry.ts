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
  readonly directedTo: Set<string>;
  readonly presenceErrorsFrom: Set<string>;
}

/**
 * Announced sessions of the shards this authority owns, indexed by user, by
 * session id and by node incarnation, with the per-shard digest each node
 * incarnation should be reporting.
 */
export class SessionRegistry {
  readonly #byId = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, Map<string, SessionRecord>>();
  readonly #byIncarnation = new Map<string, Set<SessionRecord>>();
  readonly #digests = new Map<string, SessionDigest>();

  get size(): number {
    return this.#byId.size;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.#byId.get(sessionId);
  }

  add(record: SessionRecord): void {
    if (this.#byId.has(record.sessionId)) return;
    this.#byId.set(record.sessionId, record);
    let user = this.#byUser.get(record.bareJid);
    if (!user) this.#byUser.set(record.bareJid, (user = new Map()));
    user.set(record.sessionId, record);
    const inc = incarnationKey(record.nodeId, record.incarnation);
    let set = this.#byIncarnation.get(inc);
    if (!set) this.#byIncarnation.set(inc, (set = new Set()));
    set.add(record);
    const dk = shardDigestKey(record.nodeId, record.incarnation, record.shard);
    this.#digests.set(dk, digestAdd(this.#digests.get(dk) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq)));
  }

  remove(record: SessionRecord): boolean {
    if (this.#byId.get(record.sessionId) !== record) return false;
    this.#byId.delete(record.sessionId);
    const user = this.#byUser.get(record.bareJid);
    user?.delete(record.sessionId);
    if (user?.size === 0) this.#byUser.delete(record.bareJid);
    const inc = incarnationKey(record.nodeId, record.incarnation);
    const set = this.#byIncarnation.get(inc);
    set?.delete(record);
    if (set?.size === 0) this.#byIncarnation.delete(inc);
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
    for (const [key, set] of this.#byIncarnation) {
      const node = key.slice(0, key.indexOf('\u0000'));
      out.set(node, (out.get(node) ?? 0) + set.size);
    }
    return out;
  }

  all(): IterableIterator<SessionRecord> {
    return this.#byId.values();
  }

  sessionsOf(bareJid: string): SessionRecord[] {
    return [...(this.#byUser.get(bareJid)?.values() ?? [])];
  }

  sessionsOfIncarnation(nodeId: string, incarnation: string): SessionRecord[] {
    return [...(this.#byIncarnation.get(incarnationKey(nodeId, incarnation)) ?? [])];
  }

  /** Incarnations of `nodeId` other than `incarnation` that still have sessions here. */
  otherIncarnations(nodeId: string, incarnation: string): string[] {
    const out: string[] = [];
    for (const key of this.#byIncarnation.keys()) {
      const [n, i] = key.split('\u0000') as [string, string];
      if (n === nodeId && i !== incarnation) out.push(i);
    }
    return out;
  }

  digest(nodeId: string, incarnation: string, shard: number): SessionDigest {
    return this.#digests.get(shardDigestKey(nodeId, incarnation, shard)) ?? EMPTY_DIGEST;
  }

  /** Shards in which this incarnation has sessions, as far as the registry knows. */
  shardsOf(nodeId: string, incarnation: string): Set<number> {
    const out = new Set<number>();
    for (const r of this.#byIncarnation.get(incarnationKey(nodeId, incarnation)) ?? []) out.add(r.shard);
    return out;
  }
}

function incarnationKey(nodeId: string, incarnation: string): string {
  return `${nodeId}\u0000${incarnation}`;
}

function shardDigestKey(nodeId: string, incarnation: string, shard: number): string {
  return `${nodeId}\u0000${incarnation}\u0000${shard}`;
}
