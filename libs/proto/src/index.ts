// The front door of the generated protobuf code (ts-proto). Regenerate with
// `npm run gen`; never edit src/gen by hand.
export * as cluster from './gen/vigil/cluster/v1/cluster.js';
export * as store from './gen/vigil/cluster/v1/store.js';
export * as admin from './gen/vigil/cluster/v1/admin.js';
/** Imported roster records from the replica serving MigrationService.Import to the shard owner. */
export * as clusterMigration from './gen/vigil/cluster/v1/migration.js';
/** The public gRPC API, vigil.presence.v1: `api.presence`, `api.roster`, `api.account`, `api.cluster`, `api.migration`. */
export * as api from './api.js';
/** grpc.health.v1, the standard health checking service. */
export * as health from './gen/grpc/health/v1/health.js';
/** google.rpc.Status and the error details carried in grpc-status-details-bin. */
export * as rpcStatus from './gen/google/rpc/status.js';
export * as rpcDetails from './gen/google/rpc/error_details.js';
