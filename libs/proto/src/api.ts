// The public gRPC API (proto/vigil/presence/v1), one namespace per file.
export * as presence from './gen/vigil/presence/v1/presence.js';
export * as roster from './gen/vigil/presence/v1/roster.js';
export * as account from './gen/vigil/presence/v1/account.js';
export * as cluster from './gen/vigil/presence/v1/cluster.js';
export * as migration from './gen/vigil/presence/v1/migration.js';
