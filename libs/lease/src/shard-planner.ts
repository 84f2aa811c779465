/**
 * Which shards this authority replica should take or give up, as a pure
 * decision over what it has observed of the shard locks (DESIGN.md
 * "Sharding"). Locks are judged over the observer's own monotonic clock: a
 * holder renews its liveness well inside the TTL, so a lock whose `seenAtMs`
 * (see judgeLocks: the owner's last liveness renewal seen) is a whole TTL old
 * belongs to a holder that is gone.
 */
export interface LockView {
  readonly owner: string;
  /** KV revision of the lock entry as last seen. */
  readonly revision: number;
  /** Monotonic time of the last sign of life of the lock's owner seen by this observer (judgeLocks). */
  readonly seenAtMs: number;
}

export interface PlanInput {
  readonly self: string;
  /** Replicas currently alive, self included. */
  readonly members: readonly string[];
  readonly shardCount: number;
  /** Lock entries by shard; a missing shard has no entry. */
  readonly locks: ReadonlyMap<number, LockView>;
  /** Shards this replica holds and acts on. */
  readonly owned: ReadonlySet<number>;
  readonly nowMs: number;
  readonly lockTtlMs: number;
}

export type PlanAction =
  /** Compare-and-set the lock: create when `expectedRevision` is 0, else update that revision. */
  | { readonly kind: 'acquire'; readonly shard: number; readonly expectedRevision: number }
  /** Hand the shard over: stop acting on it, then delete the lock at its revision. */
  | { readonly kind: 'release'; readonly shard: number };

/** A replica never holds more than this while others want shards. */
export function fairShare(shardCount: number, memberCount: number): number {
  return Math.ceil(shardCount / Math.max(1, memberCount));
}

/** Rendezvous hashing: each replica ranks shards differently, so replicas rarely race for the same one. */
export function preference(self: string, shard: number): number {
  let h = 0x811c9dc5;
  const s = `${self}#${shard}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function isFree(lock: LockView | undefined, input: Pick<PlanInput, 'self' | 'members' | 'nowMs' | 'lockTtlMs'>): boolean {
  if (lock === undefined) return true;
  if (lock.owner === input.self) return true; // ours from before a restart: take it back by CAS
  return input.nowMs - lock.seenAtMs >= input.lockTtlMs;
}

export function planShards(input: PlanInput): PlanAction[] {
  const share = fairShare(input.shardCount, input.members.length);
  const actions: PlanAction[] = [];
  const ranked = (shards: number[]) => shards.sort((a, b) => preference(input.self, b) - preference(input.self, a));
  if (input.owned.size < share) {
    const free: number[] = [];
    for (let shard = 0; shard < input.shardCount; shard++) {
      if (!input.owned.has(shard) && isFree(input.locks.get(shard), input)) free.push(shard);
    }
    for (const shard of ranked(free).slice(0, share - input.owned.size)) {
      actions.push({ kind: 'acquire', shard, expectedRevision: input.locks.get(shard)?.revision ?? 0 });
    }
    return actions;
  }
  if (input.owned.size > share) {
    // Give back only while someone alive holds less than a fair share and could take it.
    const counts = new Map<string, number>(input.members.map((m) => [m, 0]));
    for (const lock of input.locks.values()) {
      if (counts.has(lock.owner) && !isFree(lock, input)) counts.set(lock.owner, (counts.get(lock.owner) ?? 0) + 1);
    }
    const starving = [...counts].some(([m, n]) => m !== input.self && n < share);
    if (!starving) return actions;
    const give = ranked([...input.owned]).reverse().slice(0, input.owned.size - share);
    for (const shard of give) actions.push({ kind: 'release', shard });
  }
  return actions;
}
