import type { KV } from '@nats-io/kv';
import { store } from '@vigil/proto';
import { userKey } from '@vigil/cluster';

export interface LastSeen {
  readonly unixMs: number;
  readonly status: string;
}

export interface LastSeenRepository {
  get(username: string): Promise<LastSeen | undefined>;
  put(username: string, value: LastSeen): Promise<void>;
  /** Forgets the user (account deletion). */
  remove(username: string): Promise<void>;
}

/** When each user's last session ended, for XEP-0012; written by the owning shard. */
export class LastSeenStore implements LastSeenRepository {
  constructor(private readonly kv: KV) {}

  async get(username: string): Promise<LastSeen | undefined> {
    const entry = await this.kv.get(userKey(username));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return store.StoredLastSeen.decode(entry.value);
  }

  async put(username: string, value: LastSeen): Promise<void> {
    await this.kv.put(userKey(username), store.StoredLastSeen.encode(value).finish());
  }

  async remove(username: string): Promise<void> {
    await this.kv.delete(userKey(username));
  }
}
