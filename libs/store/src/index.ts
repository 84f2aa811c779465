export { StoreError, AccountExistsError, RevisionConflictError } from './errors.js';
export { AccountStore, STORED_HASHES } from './accounts.js';
export {
  RosterStore, type VersionedRoster, itemToWire, itemFromWire, subscriptionFromWire, encodeRoster, decodeRoster,
} from './rosters.js';
export { type Stores, type OpenStoresOptions, openStores } from './open.js';
export { type Contact, provisionUsers } from './provision.js';
