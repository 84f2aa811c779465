import { digestAdd, digestKey, digestRemove, EMPTY_DIGEST, type SessionDigest } from '@vigil/cluster';
import type { SessionPresence } from '@vigil/roster';
import { KeyedTable } from './keyed-table.js';

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
  /** Revision of the session's KV entry as the journal last wrote or loaded it (0 or absent: none known); the journal's own. */
  kvRevision?: number;
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

/**
 * One node incarnation's share of the registry: its id strings (which its
 * records share), how many sessions it has here and the digest of each shard
 * they are in. It holds no collection of its records: a Set per incarnation
 * cost 33 bytes per session for the rare walk over one incarnation's sessions
 * (its expiry), which a scan of all sessions does as well (docs/decisions.md
 * "The authority's memory per session").
 */
interface IncarnationGroup {
  readonly nodeId: string;
  readonly incarnation: string;
  count: number;
  /** Shard → digest of this incarnation's sessions in it; shards without sessions are absent. */
  readonly shards: Map<number, SessionDigest>;
}

/**
 * Announced sessions of the shards this authority owns, indexed by user, by
 * session id and by node incarnation, with the per-shard digest each node
 * incarnation should be reporting.
 *
 * Kept small, since it holds every session of the cluster's owned shards:
 * a user with one session (nearly all) maps to the record itself, not to a
 * collection of one; records of one node incarnation share its id strings
 * (canonicalIncarnation); per session there are the record and a slot in
 * each of two open-addressing tables (by id, by user).
 */
export class SessionRegistry {
  // Open-addressing tables rather than Maps: about 20 bytes per session each instead of 42 (KeyedTable).
  readonly #byId = new KeyedTable<SessionRecord>((r) => r.sessionId);
  readonly #byUser = new KeyedTable<SessionRecord | SessionRecord[]>(userOf);
  readonly #byIncarnation = new Map<string, IncarnationGroup>();

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
    if (!this.#byId.add(record)) return;
    const user = this.#byUser.get(record.bareJid);
    if (user === undefined) this.#byUser.add(record);
    else if (Array.isArray(user)) user.push(record);
    else {
      this.#byUser.delete(record.bareJid);
      this.#byUser.add([user, record]);
    }
    const inc = incarnationKey(record.nodeId, record.incarnation);
    let group = this.#byIncarnation.get(inc);
    if (!group) this.#byIncarnation.set(inc, (group = { nodeId: record.nodeId, incarnation: record.incarnation, count: 0, shards: new Map() }));
    group.count++;
    group.shards.set(record.shard, digestAdd(group.shards.get(record.shard) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq)));
  }

  remove(record: SessionRecord): boolean {
    if (this.#byId.get(record.sessionId) !== record) return false;
    this.#byId.delete(record.sessionId);
    const user = this.#byUser.get(record.bareJid);
    if (user === record) this.#byUser.delete(record.bareJid);
    else if (Array.isArray(user)) {
      const rest = user.filter((r) => r !== record);
      this.#byUser.delete(record.bareJid);
      this.#byUser.add(rest.length === 1 ? (rest[0] as SessionRecord) : rest);
    }
    const inc = incarnationKey(record.nodeId, record.incarnation);
    const group = this.#byIncarnation.get(inc);
    if (group === undefined) return true; // unreachable: add() made it
    if (--group.count === 0) this.#byIncarnation.delete(inc);
    const d = digestRemove(group.shards.get(record.shard) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq));
    if (d.count === 0) group.shards.delete(record.shard);
    else group.shards.set(record.shard, d);
    return true;
  }

  /** Records the session's latest broadcast number, keeping its digest in step. */
  setPresenceSeq(record: SessionRecord, seq: number): void {
    if (this.#byId.get(record.sessionId) !== record || record.presenceSeq === seq) {
      record.presenceSeq = seq;
      return;
    }
    const group = this.#byIncarnation.get(incarnationKey(record.nodeId, record.incarnation));
    if (group === undefined) {
      record.presenceSeq = seq; // unreachable: add() made it
      return;
    }
    let d = digestRemove(group.shards.get(record.shard) ?? EMPTY_DIGEST, digestKey(record.sessionId, record.presenceSeq));
    record.presenceSeq = seq;
    d = digestAdd(d, digestKey(record.sessionId, seq));
    group.shards.set(record.shard, d);
  }

  /** Forgets every session of a shard handed to another owner (nothing is announced). */
  removeShard(shard: number): SessionRecord[] {
    const gone = this.#byId.values().filter((r) => r.shard === shard);
    for (const r of gone) this.remove(r);
    return gone;
  }

  /** Sessions per connection node (all its incarnations here), for the sessions gauge: O(incarnations). */
  countByNode(): Map<string, number> {
    const out = new Map<string, number>();
    for (const g of this.#byIncarnation.values()) out.set(g.nodeId, (out.get(g.nodeId) ?? 0) + g.count);
    return out;
  }

  /** Every session, in no particular order; a copy, so the caller may change the registry meanwhile. */
  all(): IterableIterator<SessionRecord> {
    return this.#byId.values().values();
  }

  /** The user's sessions in the order they were added; a copy the caller may keep while the registry changes. */
  sessionsOf(bareJid: string): SessionRecord[] {
    const user = this.#byUser.get(bareJid);
    if (user === undefined) return [];
    return Array.isArray(user) ? [...user] : [user];
  }

  /** Calls `fn` with each of the user's sessions in the order they were added, without copying them; `fn` must not change the registry. */
  forEachSessionOf(bareJid: string, fn: (r: SessionRecord) => void): void {
    const user = this.#byUser.get(bareJid);
    if (user === undefined) return;
    if (!Array.isArray(user)) return fn(user);
    for (const r of user) fn(r);
  }

  /** Whether one of the user's sessions satisfies `test`, without copying them. */
  someSessionOf(bareJid: string, test: (r: SessionRecord) => boolean): boolean {
    const user = this.#byUser.get(bareJid);
    if (user === undefined) return false;
    return Array.isArray(user) ? user.some(test) : test(user);
  }

  /**
   * The incarnation's sessions, in no particular order: a scan of all
   * sessions (O(sessions here), about a millisecond per 100,000), done when an
   * incarnation ends and by the reconciler once per mismatched (incarnation,
   * shard) digest, never per stanza.
   */
  sessionsOfIncarnation(nodeId: string, incarnation: string): SessionRecord[] {
    const group = this.#byIncarnation.get(incarnationKey(nodeId, incarnation));
    if (group === undefined) return [];
    const out: SessionRecord[] = [];
    this.#byId.forEach((r) => {
      if (r.incarnation === group.incarnation && r.nodeId === group.nodeId) out.push(r);
    });
    return out;
  }

  /** Incarnations of `nodeId` other than `incarnation` that still have sessions here. */
  otherIncarnations(nodeId: string, incarnation: string): string[] {
    const out: string[] = [];
    for (const g of this.#byIncarnation.values()) if (g.nodeId === nodeId && g.incarnation !== incarnation) out.push(g.incarnation);
    return out;
  }

  digest(nodeId: string, incarnation: string, shard: number): SessionDigest {
    return this.#byIncarnation.get(incarnationKey(nodeId, incarnation))?.shards.get(shard) ?? EMPTY_DIGEST;
  }

  /** This incarnation's digest per shard it has sessions in (read-only; undefined when none). */
  digestsOf(nodeId: string, incarnation: string): ReadonlyMap<number, SessionDigest> | undefined {
    return this.#byIncarnation.get(incarnationKey(nodeId, incarnation))?.shards;
  }
}

/** A user's entry in #byUser: its one record, or its records (two or more) in the order they were added. */
function userOf(entry: SessionRecord | SessionRecord[]): string {
  return Array.isArray(entry) ? (entry[0] as SessionRecord).bareJid : entry.bareJid;
}

function incarnationKey(nodeId: string, incarnation: string): string {
  return `${nodeId}\u0000${incarnation}`;
}

