import { NO_JIDS, type SessionRecord } from './registry.js';

/** The node id and incarnation a record names: shared by the records of one incarnation (SessionRegistry.canonicalIncarnation). */
export interface IncarnationIds {
  readonly nodeId: string;
  readonly incarnation: string;
}

/**
 * What nearly every available session broadcasts: presence with no child,
 * stamped with the full JID and nothing else. A record holding it keeps no
 * copy (56 bytes for a 21-character JID); it is rebuilt when read.
 */
const BARE_PREFIX = "<presence from='";
const BARE_SUFFIX = "'/>";
const BARE_OVERHEAD = BARE_PREFIX.length + BARE_SUFFIX.length;

/** `xml` is exactly what `presenceXml` rebuilds for a record of `fullJid` from BARE_PREFIX and BARE_SUFFIX. */
export function isBarePresenceOf(xml: string, fullJid: string): boolean {
  return (
    xml.length === fullJid.length + BARE_OVERHEAD &&
    xml.startsWith(BARE_PREFIX) &&
    xml.startsWith(fullJid, BARE_PREFIX.length) &&
    xml.endsWith(BARE_SUFFIX)
  );
}

/*
 * #bits, a small integer (below 2^30, so a Smi even where V8 compresses pointers):
 *   bits 0–15  shard (the configuration allows at most 65,536)
 *   bit 16     available
 *   bits 17–29 availableSinceUnixMs ÷ 2^30 (its remainder is #sinceLow); SINCE_ELSEWHERE:
 *              the value is no integer in [0, SINCE_ELSEWHERE × 2^30), about the year 2248,
 *              and is kept in #extra instead
 */
const SHARD_MASK = 0xffff;
const AVAILABLE_BIT = 1 << 16;
const SINCE_SHIFT = 17;
const SINCE_HIGH_MASK = 0x1fff;
const SINCE_ELSEWHERE = SINCE_HIGH_MASK;
const SINCE_LOW = 2 ** 30;

/**
 * What few sessions need: the directed-presence and presence-error sets (most
 * never have either) and an availability time that does not pack.
 */
interface Extra {
  directedTo: ReadonlySet<string>;
  presenceErrorsFrom: ReadonlySet<string>;
  sinceUnixMs: number;
}

/**
 * The authority's record of one session, laid out for memory: the registry
 * holds one per session of every owned shard, mostly idle, so each field is
 * a cost (docs/decisions.md "The authority's memory per session").
 *
 * - the shard, the availability flag and the high part of the time the
 *   session became available share one small integer, the low part is a
 *   second one (a double would cost a 16-byte box of its own);
 * - node id and incarnation are one reference to the strings all records of
 *   that incarnation share;
 * - a bare `<presence from='full JID'/>` (what idle clients send) is not
 *   stored but rebuilt when read; any other stanza is kept as given;
 * - the directed-presence and presence-error sets share one reference, null
 *   while both are empty (Extra).
 *
 * Reads and writes look like the plain fields of SessionRecord.
 */
export class CompactSessionRecord implements SessionRecord {
  readonly sessionId: string;
  readonly fullJid: string;
  readonly bareJid: string;
  readonly #ids: IncarnationIds;
  /** Shard, availability and availableSinceUnixMs ÷ 2^30 (see the layout above). */
  #bits: number;
  /** availableSinceUnixMs mod 2^30. */
  #sinceLow = 0;
  priority = 0;
  /** The last broadcast presence; null: the bare presence of fullJid (isBarePresenceOf). */
  #xml: string | null = '';
  presenceSeq = 0;
  #extra: Extra | null = null;
  kvRevision = 0;

  constructor(sessionId: string, fullJid: string, bareJid: string, shard: number, ids: IncarnationIds) {
    if (!Number.isInteger(shard) || shard < 0 || shard > SHARD_MASK) throw new RangeError(`shard must be an integer in [0, ${SHARD_MASK}], got ${shard}`);
    this.sessionId = sessionId;
    this.fullJid = fullJid;
    this.bareJid = bareJid;
    this.#ids = ids;
    this.#bits = shard;
  }

  get shard(): number {
    return this.#bits & SHARD_MASK;
  }

  get nodeId(): string {
    return this.#ids.nodeId;
  }

  get incarnation(): string {
    return this.#ids.incarnation;
  }

  get available(): boolean {
    return (this.#bits & AVAILABLE_BIT) !== 0;
  }

  set available(on: boolean) {
    this.#bits = on ? this.#bits | AVAILABLE_BIT : this.#bits & ~AVAILABLE_BIT;
  }

  get presenceXml(): string {
    return this.#xml ?? BARE_PREFIX + this.fullJid + BARE_SUFFIX;
  }

  set presenceXml(xml: string) {
    this.#xml = isBarePresenceOf(xml, this.fullJid) ? null : xml;
  }

  get availableSinceUnixMs(): number {
    const high = (this.#bits >>> SINCE_SHIFT) & SINCE_HIGH_MASK;
    return high === SINCE_ELSEWHERE ? (this.#extra?.sinceUnixMs ?? 0) : high * SINCE_LOW + this.#sinceLow;
  }

  set availableSinceUnixMs(ms: number) {
    const packs = Number.isInteger(ms) && ms >= 0 && ms < SINCE_ELSEWHERE * SINCE_LOW;
    const high = packs ? Math.floor(ms / SINCE_LOW) : SINCE_ELSEWHERE;
    this.#bits = (this.#bits & ~(SINCE_HIGH_MASK << SINCE_SHIFT)) | (high << SINCE_SHIFT);
    this.#sinceLow = packs ? (ms - high * SINCE_LOW) | 0 : 0; // | 0: a Smi, never -0 (a double would widen the field for every record)
    this.#extra = withExtra(this.#extra, this.directedTo, this.presenceErrorsFrom, packs ? 0 : ms);
  }

  get directedTo(): ReadonlySet<string> {
    return this.#extra?.directedTo ?? NO_JIDS;
  }

  set directedTo(set: ReadonlySet<string>) {
    this.#extra = withExtra(this.#extra, set, this.presenceErrorsFrom, this.#extra?.sinceUnixMs ?? 0);
  }

  get presenceErrorsFrom(): ReadonlySet<string> {
    return this.#extra?.presenceErrorsFrom ?? NO_JIDS;
  }

  set presenceErrorsFrom(set: ReadonlySet<string>) {
    this.#extra = withExtra(this.#extra, this.directedTo, set, this.#extra?.sinceUnixMs ?? 0);
  }
}

/**
 * `extra` holding these values (null when all are empty or 0: a record
 * without them keeps no object). A function, not a private method: those
 * cost every instance a brand field.
 */
function withExtra(extra: Extra | null, directedTo: ReadonlySet<string>, presenceErrorsFrom: ReadonlySet<string>, sinceUnixMs: number): Extra | null {
  if (directedTo === NO_JIDS && presenceErrorsFrom === NO_JIDS && sinceUnixMs === 0) return null;
  if (extra === null) return { directedTo, presenceErrorsFrom, sinceUnixMs };
  extra.directedTo = directedTo;
  extra.presenceErrorsFrom = presenceErrorsFrom;
  extra.sinceUnixMs = sinceUnixMs;
  return extra;
}
