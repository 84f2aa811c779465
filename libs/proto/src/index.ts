// The front door of the generated protobuf code (ts-proto). Regenerate with
// `npm run gen`; never edit src/gen by hand.
export * as cluster from './gen/vigil/cluster/v1/cluster.js';
export * as store from './gen/vigil/cluster/v1/store.js';
