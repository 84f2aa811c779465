import type { LockView, PlanAction } from './shard-planner.js';

/**
 * How an observer judges shard locks when owners renew one liveness key each
 * instead of every shard lock (docs/decisions.md "Per-replica liveness
 * keys"). Pure: the shard manager feeds what its KV watch showed, and hands
 * the result to planShards as the locks' `seenAtMs`.
 */

/** One `shard.<n>` key as last seen. */
export interface ShardKeyView {
  readonly owner: string;
  /** KV revision of the key; the epoch of an owner that acquired at it. */
  readonly revision: number;
  /** Monotonic time at which this observer first saw `revision`. */
  readonly seenAtMs: number;
  /**
   * Written by a version whose owners renew a liveness key (ShardLock.owner_liveness).
   * False: an owner from before, which renews the shard key itself; judged by the key's own revision.
   */
  readonly ownerLiveness: boolean;
}

/**
 * One `alive.<id>` key as last seen: a revision, or a deletion (a replica that stopped or was declared dead).
 * `seenAtMs`: monotonic time at which this observer first saw that revision.
 */
export type LivenessView =
  | { readonly kind: 'alive'; readonly revision: number; readonly seenAtMs: number }
  | { readonly kind: 'gone'; readonly revision: number; readonly seenAtMs: number };

export interface JudgeInput {
  readonly shards: ReadonlyMap<number, ShardKeyView>;
  readonly liveness: ReadonlyMap<string, LivenessView>;
  /**
   * Since when this observer's own KV access has worked: silence heard while it
   * did not (a JetStream election, our own partition) is no evidence of death.
   */
  readonly healthySinceMs: number;
  /** Since when the observer has been watching the bucket: an owner whose liveness it never saw is judged from here. */
  readonly watchingSinceMs: number;
}

/**
 * The lock views planShards decides on. A lock whose owner renews a liveness
 * key is as old as the newer of the key's own write and the owner's last
 * liveness renewal, both as first seen by us and never older than the start
 * of our healthy KV access; a lock whose owner's liveness key was deleted is
 * free at once (the owner handed over, or another replica declared it dead
 * by compare-and-set, so its next renewal fails). A lock written by an older
 * version is judged by its own revision, as that version renews it.
 */
export function judgeLocks(input: JudgeInput): Map<number, LockView> {
  const out = new Map<number, LockView>();
  const floor = input.healthySinceMs;
  for (const [shard, key] of input.shards) {
    let seenAtMs: number;
    if (!key.ownerLiveness) seenAtMs = Math.max(key.seenAtMs, floor);
    else {
      const live = input.liveness.get(key.owner);
      if (live?.kind === 'gone') seenAtMs = Number.NEGATIVE_INFINITY;
      else seenAtMs = Math.max(key.seenAtMs, live?.seenAtMs ?? input.watchingSinceMs, floor);
    }
    out.set(shard, { owner: key.owner, revision: key.revision, seenAtMs });
  }
  return out;
}

/**
 * The owners to declare dead before acting on `actions`: every other owner of
 * a shard to be acquired whose liveness key is still there, with the revision
 * at which it was seen silent. Deleting that key by compare-and-set first makes
 * the death explicit (the owner's next renewal fails and it drops every shard
 * at once); if the owner renewed meanwhile, the delete fails and none of its
 * shards may be taken.
 */
export function deathsToDeclare(
  self: string,
  actions: readonly PlanAction[],
  shards: ReadonlyMap<number, ShardKeyView>,
  liveness: ReadonlyMap<string, LivenessView>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of actions) {
    if (a.kind !== 'acquire') continue;
    const key = shards.get(a.shard);
    if (key === undefined || key.owner === self || !key.ownerLiveness) continue;
    const live = liveness.get(key.owner);
    if (live?.kind === 'alive') out.set(key.owner, live.revision);
  }
  return out;
}

export interface PurgeInput {
  readonly self: string;
  readonly shards: ReadonlyMap<number, ShardKeyView>;
  readonly liveness: ReadonlyMap<string, LivenessView>;
  readonly nowMs: number;
  /** How long a deletion must have been seen before its marker may go. */
  readonly goneForMs: number;
}

/**
 * The delete markers of liveness keys that may be purged from the bucket,
 * by replica id, with the revision of the marker (purge up to it and never
 * beyond: a newer write of the key, a replica with that id starting again,
 * must stay). A marker qualifies when this observer has seen it for
 * `goneForMs`, no lock it knows names that replica (for an observer that
 * never saw the marker, such a lock would be free a TTL later instead of at
 * once), and it is not our own key (docs/decisions.md "Per-replica liveness
 * keys", purging delete markers).
 */
export function livenessToPurge(input: PurgeInput): Map<string, number> {
  const named = owners(input.shards);
  const out = new Map<string, number>();
  for (const [id, live] of input.liveness) {
    if (live.kind !== 'gone' || id === input.self || named.has(id)) continue;
    if (input.nowMs - live.seenAtMs >= input.goneForMs) out.set(id, live.revision);
  }
  return out;
}

/**
 * Liveness keys still there whose replica is long dead but was never declared
 * so, by replica id, with the revision seen silent: a replica killed while it
 * held no shard (a death is declared only to take shards), or one whose stop
 * could not delete its key. A key qualifies when it has not moved for
 * `goneForMs` of our healthy KV access and no lock names its replica; the
 * shard manager deletes it by compare-and-set at that revision (a replica
 * that renewed meanwhile keeps it; one that wakes up later fails its next
 * renewal and writes its key again), and the marker is purged later like any.
 */
export function livenessToRetire(input: PurgeInput & { readonly healthySinceMs: number }): Map<string, number> {
  const named = owners(input.shards);
  const out = new Map<string, number>();
  for (const [id, live] of input.liveness) {
    if (live.kind !== 'alive' || id === input.self || named.has(id)) continue;
    if (input.nowMs - Math.max(live.seenAtMs, input.healthySinceMs) >= input.goneForMs) out.set(id, live.revision);
  }
  return out;
}

function owners(shards: ReadonlyMap<number, ShardKeyView>): Set<string> {
  const named = new Set<string>();
  for (const key of shards.values()) named.add(key.owner);
  return named;
}
