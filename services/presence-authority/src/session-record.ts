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

const SHARD_MASK = 0xffff; // the configuration allows at most 65,536 shards
const AVAILABLE_BIT = 0x10000;

/** The two sets of a session that ever had directed presence or a presence error; most never do. */
interface JidSets {
  directedTo: ReadonlySet<string>;
  presenceErrorsFrom: ReadonlySet<string>;
}

/**
 * The authority's record of one session, laid out for memory: the registry
 * holds one per session of every owned shard, mostly idle, so each field is
 * a cost (docs/decisions.md "The authority's memory per session").
 *
 * - the shard and the availability flag share one small integer;
 * - node id and incarnation are one reference to the strings all records of
 *   that incarnation share;
 * - a bare `<presence from='full JID'/>` (what idle clients send) is not
 *   stored but rebuilt when read; any other stanza is kept as given;
 * - the directed-presence and presence-error sets share one reference, null
 *   while both are empty.
 *
 * Reads and writes look like the plain fields of SessionRecord.
 */
export class CompactSessionRecord implements SessionRecord {
  readonly sessionId: string;
  readonly fullJid: string;
  readonly bareJid: string;
  readonly #ids: IncarnationIds;
  /** Shard (low 16 bits) and availability (AVAILABLE_BIT). */
  #bits: number;
  priority = 0;
  /** The last broadcast presence; null: the bare presence of fullJid (isBarePresenceOf). */
  #xml: string | null = '';
  presenceSeq = 0;
  availableSinceUnixMs = 0;
  #sets: JidSets | null = null;
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

  get directedTo(): ReadonlySet<string> {
    return this.#sets?.directedTo ?? NO_JIDS;
  }

  set directedTo(set: ReadonlySet<string>) {
    this.#sets = withSets(this.#sets, set, this.presenceErrorsFrom);
  }

  get presenceErrorsFrom(): ReadonlySet<string> {
    return this.#sets?.presenceErrorsFrom ?? NO_JIDS;
  }

  set presenceErrorsFrom(set: ReadonlySet<string>) {
    this.#sets = withSets(this.#sets, this.directedTo, set);
  }
}

/** `sets` holding these two (null when both are empty). A function, not a private method: those cost every instance a brand field. */
function withSets(sets: JidSets | null, directedTo: ReadonlySet<string>, presenceErrorsFrom: ReadonlySet<string>): JidSets | null {
  if (directedTo === NO_JIDS && presenceErrorsFrom === NO_JIDS) return null;
  if (sets === null) return { directedTo, presenceErrorsFrom };
  sets.directedTo = directedTo;
  sets.presenceErrorsFrom = presenceErrorsFrom;
  return sets;
}
