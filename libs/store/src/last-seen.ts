import type { KV } from '@nats-io/kv';
import { store } from '@vigil/proto';
import { userKey } from '@vigil/cluster';

export interface LastSeen {
  readonly unixMs: number;
  readonly status: string;
  /** The resource whose end left the user without an available one; absent in values stored before it was kept. */
  readonly fullJid?: string;
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
    const { unixMs, status, fullJid } = store.StoredLastSeen.decode(entry.value);
    return fullJid === '' ? { unixMs, status } : { unixMs, status, fullJid };
  }

  async put(username: string, value: LastSeen): Promise<void> {
    const stored: store.StoredLastSeen = { unixMs: value.unixMs, status: value.status, fullJid: value.fullJid ?? '' };
    await this.kv.put(userKey(username), store.StoredLastSeen.encode(stored).finish());
  }

  async remove(username: string): Promise<void> {
    await this.kv.delete(userKey(username));
  }
}
