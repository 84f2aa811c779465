export { StoreError, AccountExistsError, RevisionConflictError } from './errors.js';
export { AccountStore, STORED_HASHES, fromStored } from './accounts.js';
export {
  RosterStore, type RosterRepository, type RosterRecord, type VersionedRecord, type PendingSubscription, EMPTY_RECORD,
  itemToWire, itemFromWire, subscriptionFromWire, encodeRecord, decodeRecord,
} from './rosters.js';
export {
  LastSeenStore, LAST_SEEN_RESOURCES, mergeLastSeen, resourceEnds, type LastSeen, type LastSeenRepository, type ResourceEnd, type VersionedLastSeen,
} from './last-seen.js';
export { type Stores, type OpenStoresOptions, MissingBucketError, openStores, openShardLocks } from './open.js';
export { type Contact, provisionUsers } from './provision.js';
export { SessionStore, type StoredSessionEntry } from './sessions.js';
export { type NatsWrites, writeOncePerTurn } from './nats-writes.js';
