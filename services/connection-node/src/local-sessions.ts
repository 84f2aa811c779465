import { randomToken } from '@vigil/xmpp';
import { digestAdd, digestKey, digestRemove, EMPTY_DIGEST, type SessionDigest } from '@vigil/cluster';

/** What a connection node keeps of each bound session: it owns live presence (DESIGN.md). */
export interface LocalSession {
  readonly id: string;
  readonly fullJid: string;
  readonly bareJid: string;
  readonly shard: number;
  /** Sent initial presence and not since unavailable: receives presence broadcasts. */
  available: boolean;
  presenceXml: string;
  priority: number;
  /** The shard owner has heard of this session; it counts in the digests. */
  announced: boolean;
  /** Broadcasts sent so far (BroadcastPresence.seq of the last one); part of the digest key. */
  presenceSeq: number;
  /** Fetched the roster: gets roster pushes (RFC 6121 §2.1.6 "interested resource"). */
  rosterInterested: boolean;
  /** Fetched the block list: gets block pushes (XEP-0191 §3.3). */
  blocklistInterested: boolean;
  /** Writes a serialized stanza to the client. */
  readonly send: (xml: string) => void;
  /** Ends the stream with a stream error (conflict, shutdown, …). */
  readonly kick: (condition: 'conflict' | 'system-shutdown' | 'policy-violation' | 'not-authorized', text: string) => void;
}

export interface LocalSessionsEvents {
  /** The first session of a user on this node: start receiving that user's deliveries. */
  readonly firstOfUser: (bareJid: string) => void;
  /** The last one left: stop. */
  readonly lastOfUser: (bareJid: string) => void;
}

/**
 * Bound sessions on this node by full JID and by user, plus the per-shard
 * digests of announced sessions that go into every heartbeat.
 */
export class LocalSessions {
  readonly #byFull = new Map<string, LocalSession>();
  readonly #byBare = new Map<string, Set<LocalSession>>();
  readonly #digests = new Map<number, SessionDigest>();
  /** Each local user's block list (XEP-0191), to drop inbound stanzas from blocked entities. */
  readonly #blocked = new Map<string, ReadonlySet<string>>();

  constructor(private readonly events: LocalSessionsEvents) {}

  static newId(): string {
    return randomToken(12);
  }

  get size(): number {
    return this.#byFull.size;
  }

  get(fullJid: string): LocalSession | undefined {
    return this.#byFull.get(fullJid);
  }

  /** Whether the user has a bound session here. */
  hasUser(bareJid: string): boolean {
    return this.#byBare.has(bareJid);
  }

  ofUser(bareJid: string): Iterable<LocalSession> {
    return this.#byBare.get(bareJid) ?? [];
  }

  all(): IterableIterator<LocalSession> {
    return this.#byFull.values();
  }

  add(s: LocalSession): void {
    if (this.#byFull.has(s.fullJid)) throw new Error(`session for ${s.fullJid} already bound`);
    this.#byFull.set(s.fullJid, s);
    let set = this.#byBare.get(s.bareJid);
    if (!set) {
      this.#byBare.set(s.bareJid, (set = new Set()));
      this.events.firstOfUser(s.bareJid);
    }
    set.add(s);
  }

  /** Counts the session in its shard's digest from now on. */
  announce(s: LocalSession): void {
    if (s.announced || this.#byFull.get(s.fullJid) !== s) return;
    s.announced = true;
    this.#digests.set(s.shard, digestAdd(this.#digests.get(s.shard) ?? EMPTY_DIGEST, digestKey(s.id, s.presenceSeq)));
  }

  /** A new broadcast: the digest now counts the session under its next presence number. */
  nextPresence(s: LocalSession): number {
    const counted = s.announced && this.#byFull.get(s.fullJid) === s;
    if (counted) this.#digests.set(s.shard, digestRemove(this.#digests.get(s.shard) ?? EMPTY_DIGEST, digestKey(s.id, s.presenceSeq)));
    s.presenceSeq++;
    if (counted) this.#digests.set(s.shard, digestAdd(this.#digests.get(s.shard) ?? EMPTY_DIGEST, digestKey(s.id, s.presenceSeq)));
    return s.presenceSeq;
  }

  remove(s: LocalSession): boolean {
    if (this.#byFull.get(s.fullJid) !== s) return false;
    this.#byFull.delete(s.fullJid);
    const set = this.#byBare.get(s.bareJid);
    set?.delete(s);
    if (set?.size === 0) {
      this.#byBare.delete(s.bareJid);
      this.#blocked.delete(s.bareJid);
      this.events.lastOfUser(s.bareJid);
    }
    if (s.announced) {
      const d = digestRemove(this.#digests.get(s.shard) ?? EMPTY_DIGEST, digestKey(s.id, s.presenceSeq));
      if (d.count === 0) this.#digests.delete(s.shard);
      else this.#digests.set(s.shard, d);
    }
    return true;
  }

  setBlockList(bareJid: string, blocked: readonly string[]): void {
    if (this.#byBare.has(bareJid)) this.#blocked.set(bareJid, new Set(blocked));
  }

  /** XEP-0191: nothing from a blocked entity (its bare JID or its whole domain) reaches the user. */
  hasBlocked(bareJid: string, fromBareJid: string): boolean {
    const list = this.#blocked.get(bareJid);
    if (list === undefined || list.size === 0) return false;
    return list.has(fromBareJid) || list.has(fromBareJid.slice(fromBareJid.indexOf('@') + 1));
  }

  digests(): [number, SessionDigest][] {
    return [...this.#digests.entries()];
  }

  announcedInShard(shard: number): LocalSession[] {
    return [...this.#byFull.values()].filter((s) => s.announced && s.shard === shard);
  }
}
