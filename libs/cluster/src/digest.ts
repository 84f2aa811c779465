import { fnv1a32 } from './hash.js';

/**
 * Order-independent digest of a set of session ids: the count and the sum
 * modulo 2^32 of their hashes. Adding and removing are O(1), so a node keeps
 * one per shard without rescanning, and the owner compares it against its own.
 */
export interface SessionDigest {
  readonly count: number;
  readonly hash: number;
}

export const EMPTY_DIGEST: SessionDigest = { count: 0, hash: 0 };

export function digestAdd(d: SessionDigest, sessionId: string): SessionDigest {
  return { count: d.count + 1, hash: (d.hash + fnv1a32(sessionId)) >>> 0 };
}

export function digestRemove(d: SessionDigest, sessionId: string): SessionDigest {
  return { count: d.count - 1, hash: (d.hash - fnv1a32(sessionId)) >>> 0 };
}

export function digestOf(sessionIds: Iterable<string>): SessionDigest {
  let d = EMPTY_DIGEST;
  for (const id of sessionIds) d = digestAdd(d, id);
  return d;
}

/** What a digest counts for one session: its id and how many broadcasts it sent, so lost presence updates show too. */
export function digestKey(sessionId: string, presenceSeq: number): string {
  return `${sessionId}#${presenceSeq}`;
}

export function digestEquals(a: SessionDigest, b: SessionDigest): boolean {
  return a.count === b.count && a.hash === b.hash;
}
