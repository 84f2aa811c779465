import { performance } from 'node:perf_hooks';
import { Kvm } from '@nats-io/kv';
import { BUCKETS, DEFAULT_SHARD_COUNT } from '@vigil/cluster';
import { store } from '@vigil/proto';
import type { Cluster } from '@vigil/testkit';

/**
 * Watches the shard-lock bucket from now on and resolves with the time from
 * `since` until every shard has an owner other than `dead` (undefined if that
 * does not happen within `timeoutMs`): how long a killed replica's shards
 * stayed without an owner.
 */
export async function shardsReowned(cluster: Cluster, dead: string, since: number, timeoutMs = 30_000): Promise<number | undefined> {
  const kv = await new Kvm(await cluster.connection()).open(BUCKETS.shards);
  const owners = new Map<string, string>();
  const updates = await kv.watch({ key: 'shard.*' });
  const timer = setTimeout(() => updates.stop(), timeoutMs);
  try {
    for await (const e of updates) {
      // The bucket also holds the replicas' liveness keys (alive.<id>).
      if (!e.key.startsWith('shard.')) continue;
      if (e.operation === 'PUT') owners.set(e.key, store.ShardLock.decode(e.value).ownerId);
      else owners.delete(e.key);
      if (owners.size === DEFAULT_SHARD_COUNT && ![...owners.values()].includes(dead)) return performance.now() - since;
    }
    return undefined;
  } finally {
    clearTimeout(timer);
    updates.stop();
  }
}
