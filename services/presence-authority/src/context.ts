import type { LastSeenRepository } from '@vigil/store';
import type { Logger } from '@vigil/telemetry';
import type { AuthorityConfig } from './config.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { OutboxPort } from './outbox.js';
import type { SessionRegistry } from './registry.js';
import type { UserRecords } from './user-records.js';
import type { SessionJournal } from './journal.js';
import type { PresenceEvents } from './presence-events.js';
import type { AuthorityMetrics } from './metrics.js';

/** What the authority's parts share. Per-user work runs in `queue` under the user's bare JID. */
export interface AuthorityContext {
  readonly config: AuthorityConfig;
  readonly log: Logger;
  readonly registry: SessionRegistry;
  readonly records: UserRecords;
  readonly lastSeen: LastSeenRepository;
  /** The epoch at which this replica owns a shard, undefined when it does not (ShardManager.epochOf). */
  readonly epochOf: (shard: number) => number | undefined;
  readonly outbox: OutboxPort;
  readonly queue: KeyedQueue;
  /** The durable session registry; every change to a session record is written here in the user's queue. */
  readonly journal: SessionJournal;
  /** Presence changes for WatchPresence, told in the user's queue right after the XMPP fan-out. */
  readonly events: PresenceEvents;
  /** Wall clock, for what people read (last activity); leases use the monotonic clock. */
  readonly wallNowMs: () => number;
  readonly metrics: AuthorityMetrics;
}
