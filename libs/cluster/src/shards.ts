import { fnv1a32 } from './hash.js';

export const DEFAULT_SHARD_COUNT = 256;

/** The shard of a user, from the normalized bare JID. Stable: never change the hash. */
export function shardOf(bareJid: string, shardCount: number = DEFAULT_SHARD_COUNT): number {
  return fnv1a32(bareJid) % shardCount;
}
