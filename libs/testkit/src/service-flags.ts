/**
 * Node/V8 flags every Vigil service process runs with, in production and in
 * every cluster the testkit starts (tests, benches, `npm start`). One list,
 * copied where a launcher cannot import it (the services' `start` scripts,
 * infra/docker/vigil-entrypoint.sh, the Kubernetes deployments); a test
 * (service-flags.test.ts) keeps those copies equal to this one.
 *
 * `--optimize-for-size`: V8 keeps its heap tight instead of fast-growing —
 * the young generation stays at 1 MB semi-spaces (the default grows them to
 * 16 MB each under a login storm and keeps them), the old generation grows
 * by a smaller factor before a full collection and is compacted more
 * readily. Idle sessions then cost RSS close to their live heap. The price
 * is more, shorter scavenges; measured in docs/decisions.md ("Service
 * processes run with --optimize-for-size"). Not accepted in NODE_OPTIONS, so
 * it goes on the command line.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];

/** The services that run with SERVICE_NODE_FLAGS (the CLI and the web console are not on the session path). */
export const FLAGGED_SERVICES: readonly string[] = ['connection-node', 'presence-authority'];
