import type { KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { store } from '@vigil/proto';
import { BUCKETS, userKey } from '@vigil/cluster';
import { RevisionConflictError } from './errors.js';

/** When one of a user's resources last ended (`LastSeen.earlierEnds`). */
export interface ResourceEnd {
  /** The resourcepart alone. */
  readonly resource: string;
  readonly unixMs: number;
}

export interface LastSeen {
  /** When the resource that ended last did (while the user has none available: when it was last seen). */
  readonly unixMs: number;
  /** The status of that resource's unavailable. */
  readonly status: string;
  /** The resource that ended last; absent in values stored before it was kept. */
  readonly fullJid?: string;
  /**
   * Other resources that ended before `fullJid`, newest first, one entry per
   * resource and never `fullJid`'s own; at most LAST_SEEN_RESOURCES − 1.
   * Absent when there are none (and in values stored before they were kept).
   */
  readonly earlierEnds?: readonly ResourceEnd[];
}

/**
 * Resources a user's last-seen value remembers, the last one included: a
 * restored session (XEP-0198) is told that each left while it was away.
 * Beyond it the oldest end is dropped: a user with more clients than this
 * that all left during one absence leaves the oldest ones shown online to a
 * restored contact (their unavailable went to a session that no longer
 * existed). Four covers phone, desktop, laptop and web at about 20 bytes each.
 */
export const LAST_SEEN_RESOURCES = 4;

/** A user's value with the revision it was read at (0: none stored), for a compare-and-set write (update()). */
export interface VersionedLastSeen {
  readonly value: LastSeen | undefined;
  readonly revision: number;
}

export interface LastSeenRepository {
  get(username: string): Promise<LastSeen | undefined>;
  put(username: string, value: LastSeen): Promise<void>;
  /** get() with the revision read. */
  read(username: string): Promise<VersionedLastSeen>;
  /**
   * Writes `value` only if the user's key is still at `expectedRevision` (0: nothing stored, or deleted since);
   * RevisionConflictError when another write came first. Returns the new revision.
   */
  update(username: string, value: LastSeen, expectedRevision: number): Promise<number>;
  /** Forgets the user (account deletion). */
  remove(username: string): Promise<void>;
}

/** The resourcepart of a full JID; '' for a bare one. */
function resourceOf(fullJid: string): string {
  const slash = fullJid.indexOf('/');
  return slash === -1 ? '' : fullJid.slice(slash + 1);
}

/** Every resource a value remembers, the last one first. */
export function resourceEnds(value: LastSeen | undefined): ResourceEnd[] {
  if (value === undefined) return [];
  const last = resourceOf(value.fullJid ?? '');
  const out: ResourceEnd[] = last === '' ? [] : [{ resource: last, unixMs: value.unixMs }];
  for (const e of value.earlierEnds ?? []) {
    if (e.resource !== '' && !out.some((o) => o.resource === e.resource)) out.push(e);
  }
  return out.slice(0, LAST_SEEN_RESOURCES);
}

/**
 * The union of two values, by time: the end with the later time is the last
 * one (its status with it; on a tie, `newer`'s, the one decided later), and
 * each resource both remember appears once, at its latest end, newest first,
 * the oldest dropped beyond LAST_SEEN_RESOURCES. The order of the arguments
 * matters only on a tie, so two replicas writing by compare-and-set (one of
 * them not yet aware it lost the user's shard) converge instead of the
 * slower one putting its older end on top; and merging a value already
 * merged in changes nothing.
 */
export function mergeLastSeen(older: LastSeen | undefined, newer: LastSeen): LastSeen {
  const top = older !== undefined && older.unixMs > newer.unixMs ? older : newer;
  const latest = new Map<string, number>();
  for (const e of [...resourceEnds(newer), ...resourceEnds(older)]) {
    const seen = latest.get(e.resource);
    if (seen === undefined || e.unixMs > seen) latest.set(e.resource, e.unixMs);
  }
  // Newest first; equal times keep newer's before older's (a stable sort over the order they were met).
  const ends = [...latest].map(([resource, unixMs]) => ({ resource, unixMs })).sort((a, b) => b.unixMs - a.unixMs);
  const { unixMs, status, fullJid } = top;
  return withEnds(fullJid === undefined ? { unixMs, status } : { unixMs, status, fullJid }, ends);
}

/**
 * `last` with `ends` (newest first, `last`'s own among them or not) as its earlier ends, deduplicated and capped at
 * LAST_SEEN_RESOURCES − 1 (as StoredLastSeen.earlier_ends says), also when `last` names no resource (an older
 * version's value): such a value remembers one resource fewer.
 */
function withEnds(last: LastSeen, ends: readonly ResourceEnd[]): LastSeen {
  const all = resourceEnds({ ...last, earlierEnds: ends });
  const earlierEnds = resourceOf(last.fullJid ?? '') === '' ? all.slice(0, LAST_SEEN_RESOURCES - 1) : all.slice(1);
  return earlierEnds.length === 0 ? last : { ...last, earlierEnds };
}

/** When each user's sessions ended, for XEP-0012 and restored sessions; written by the owning shard. */
export class LastSeenStore implements LastSeenRepository {
  constructor(private readonly kv: KV) {}

  async get(username: string): Promise<LastSeen | undefined> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return fromStored(store.StoredLastSeen.decode(entry.value));
  }

  async put(username: string, value: LastSeen): Promise<void> {
    await this.kv.put(userKey(username), store.StoredLastSeen.encode(toStored(value)).finish());
  }

  async read(username: string): Promise<VersionedLastSeen> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null) return { value: undefined, revision: 0 };
    // A deletion marker's revision is the key's last: a write at it succeeds only if nothing came after.
    return { value: entry.operation === 'PUT' ? fromStored(store.StoredLastSeen.decode(entry.value)) : undefined, revision: entry.revision };
  }

  async update(username: string, value: LastSeen, expectedRevision: number): Promise<number> {
    const key = userKey(username);
    const bytes = store.StoredLastSeen.encode(toStored(value)).finish();
    try {
      return expectedRevision === 0 ? await this.kv.create(key, bytes) : await this.kv.update(key, bytes, expectedRevision);
    } catch (e) {
      // Only a lost compare-and-set is a conflict; a timeout or an unreachable server is thrown as it is.
      if (e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) {
        throw new RevisionConflictError(BUCKETS.lastSeen, key, e);
      }
      throw e;
    }
  }

  async remove(username: string): Promise<void> {
    await this.kv.delete(userKey(username));
  }
}

/** A stored value as read: a record written before a field existed reads as without it; never more than the cap. */
export function fromStored(s: store.StoredLastSeen): LastSeen {
  const last = s.fullJid === '' ? { unixMs: s.unixMs, status: s.status } : { unixMs: s.unixMs, status: s.status, fullJid: s.fullJid };
  // Duplicates and entries beyond the cap (a later version's writer) are dropped as any merge would.
  return withEnds(last, s.earlierEnds.map(({ resource, unixMs }) => ({ resource, unixMs })));
}

export function toStored(value: LastSeen): store.StoredLastSeen {
  return { unixMs: value.unixMs, status: value.status, fullJid: value.fullJid ?? '', earlierEnds: (value.earlierEnds ?? []).map(({ resource, unixMs }) => ({ resource, unixMs })) };
}
