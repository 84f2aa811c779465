import { existsSync } from 'node:fs';

/**
 * V8 heap flags of each Vigil service process, in production and in every
 * cluster the testkit starts (tests, benches, `npm start`). This is the one
 * list; launchers that cannot import it (the services' `start` scripts and
 * infra/docker/vigil-entrypoint.sh, which the Kubernetes deployments use)
 * hold copies, and service-flags.test.ts keeps them equal.
 *
 * Why (measured in docs/decisions.md, "V8 heap flags of the services"): with
 * V8's defaults, RSS per idle session was mostly heap V8 grew during the
 * login storm and kept, not live session state.
 * - `--max-semi-space-size=4` (connection node): the young generation grows
 *   to 2 × 4 MB instead of 2 × 16 MB under load. A node's 32 MB of young
 *   generation came back with every login storm and stayed until V8 judged
 *   the process idle (tens of seconds, or never).
 * - `--heap-growing-percent=20` (connection node): after a full collection
 *   the old generation may grow by 20 % before the next one, instead of up
 *   to 4× the live heap.
 * - `--expose-gc --heap-growing-percent=100` (presence authority): its idle
 *   collector (services/presence-authority/src/idle-collector.ts) compacts
 *   the old space once after each burst of session changes, when the
 *   process is quiet, and between those V8 collects fully when the old
 *   generation has doubled. The authority's old space reached 100 MB around
 *   40–60 MB of live data after a login storm and kept the pages; it used
 *   `--heap-growing-percent=20` against that until the full collections it
 *   caused every 1.5–2.5 s under gRPC load were found to be the slowest 1 %
 *   of GetPresence (docs/decisions.md, "An idle collector instead of the
 *   authority's tight heap growth").
 * - `--max-semi-space-size=2` (presence authority, session 8): a login storm
 *   grew its young generation to 2 × 16 MB, which V8 gave back only when
 *   its memory reducer judged the process idle (20 s to over 30 s later):
 *   3.2–3.6 KB of RSS per idle session against ≤ 1 KB. With 2 MB: 0.7 and
 *   0.8 KB, and GetPresence p99 1.17–1.44 ms against 1.56–2.28 ms (shorter,
 *   more frequent scavenges; docs/decisions.md, "A 2 MB young generation
 *   for the authority").
 * - `--no-allocation-site-pretenuring` (presence authority, session 9): V8
 *   may decide, from a few scavenges in which most of a site's objects
 *   survived (a login storm or import does that), to allocate that site's
 *   objects in the old generation from then on. With the 2 MB young
 *   generation it did so for grpc-js's per-call objects in some runs:
 *   13 MB/s of garbage went to the old generation at 2,000 GetPresence/s and
 *   the authority collected fully every 3.4 s (15-20 ms pauses) for the rest
 *   of its life. Without pretenuring 1-2 MB/s, a full collection every
 *   15-20 s (docs/decisions.md, "No pretenuring in the authority").
 * The price is more frequent collections under load (CPU per login and GC
 * pauses in the same section). Node refuses --heap-growing-percent in
 * NODE_OPTIONS, so the flags go on the command line; operators replace them
 * with VIGIL_NODE_FLAGS in the container.
 */
export type FlaggedService = 'connection-node' | 'presence-authority';

export const SERVICE_NODE_FLAGS: Readonly<Record<FlaggedService, readonly string[]>> = {
  'connection-node': ['--max-semi-space-size=4', '--heap-growing-percent=20'],
  'presence-authority': ['--expose-gc', '--heap-growing-percent=100', '--max-semi-space-size=2', '--no-allocation-site-pretenuring'],
};

/**
 * glibc malloc settings of the same two services, set in their environment
 * wherever they are started (the testkit, the start scripts and the
 * container entrypoint hold copies, service-flags.test.ts keeps them equal).
 * Why (docs/decisions.md, "glibc malloc settings of the services"): after a
 * login storm the services' RSS held several MB that were neither V8 heap
 * nor live data: memory V8's compiler and GC threads had malloc'd and freed
 * in per-thread arenas, which glibc keeps, and a trim threshold that glibc
 * raises on its own after large frees.
 * - `MALLOC_ARENA_MAX=2`: at most two malloc arenas instead of eight per core.
 * - `MALLOC_TRIM_THRESHOLD_=131072`: free memory above 128 KB at the top of
 *   the heap goes back to the system; setting it also stops glibc from
 *   raising the threshold (and the mmap threshold) after large frees.
 * An operator's own value wins (in the testkit: VIGIL_CHILD_ENV).
 */
export const SERVICE_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * jemalloc for the presence authority: Debian's libjemalloc2, in the
 * multiarch directory of the machine (`/usr/lib/$(uname -m)-linux-gnu/`, so
 * x86_64 and aarch64), preloaded (LD_PRELOAD) wherever the authority is
 * started when it is installed: the testkit, the service's start script and
 * the container entrypoint (service-flags.test.ts keeps them equal). An
 * LD_PRELOAD already set, even empty, wins. Without the library the
 * authority runs on glibc's malloc and its `ready` log line says so.
 * Why (docs/decisions.md, "jemalloc for the authority"): node:http2 turns every
 * request header value into an external string backed by malloc'd memory, and
 * V8 frees those only in a full collection, all at once: at 2,000 GetPresence/s,
 * several hundred thousand free() calls in one pause. With glibc those pauses
 * were 45-100 ms every 15-20 s; with jemalloc 13-27 ms.
 */
export const JEMALLOC_SERVICES: readonly FlaggedService[] = ['presence-authority'];

/** Debian's path of libjemalloc2 for a `uname -m` machine name. */
export function jemallocPathFor(machine: string): string {
  return `/usr/lib/${machine}-linux-gnu/libjemalloc.so.2`;
}

/** `uname -m` of this process's architecture (Node's process.arch names differ). */
export function unameMachine(arch: string = process.arch): string {
  return ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[arch] ?? arch;
}

/**
 * The environment that preloads jemalloc into `service`: the caller's own
 * LD_PRELOAD when it has one (even empty), else the library when it is
 * installed, else nothing. Only for JEMALLOC_SERVICES.
 */
export function jemallocEnv(
  service: FlaggedService,
  o: { readonly env?: NodeJS.ProcessEnv; readonly exists?: (path: string) => boolean; readonly arch?: string } = {},
): Record<string, string> {
  if (!JEMALLOC_SERVICES.includes(service)) return {};
  const own = (o.env ?? process.env).LD_PRELOAD;
  if (own !== undefined) return { LD_PRELOAD: own };
  const path = jemallocPathFor(unameMachine(o.arch));
  return (o.exists ?? existsSync)(path) ? { LD_PRELOAD: path } : {};
}

/** The services that run with SERVICE_NODE_FLAGS (the CLI and the web console are not on the session path). */
export const FLAGGED_SERVICES: readonly FlaggedService[] = ['connection-node', 'presence-authority'];
