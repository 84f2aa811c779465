#!/bin/sh
# Selects the Vigil process the container runs. exec: node becomes tini's
# child directly and receives SIGTERM itself.
set -eu
# V8 heap flags of the two services: a copy of SERVICE_NODE_FLAGS in
# libs/testkit/src/service-flags.ts (a test keeps them equal); why in docs/decisions.md
# ("V8 heap flags of the services"). VIGIL_NODE_FLAGS, when set (even empty), replaces them.
# Not NODE_OPTIONS: Node refuses --heap-growing-percent there.
node_flags_connection_node="--max-semi-space-size=4 --heap-growing-percent=20"
node_flags_presence_authority="--expose-gc --heap-growing-percent=100 --max-semi-space-size=2 --no-allocation-site-pretenuring"
# glibc malloc settings of the two services: a copy of SERVICE_MALLOC_ENV in
# libs/testkit/src/service-flags.ts (same test); why in docs/decisions.md
# ("glibc malloc settings of the services"). A non-empty value set on the container wins.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-131072}"
service="${1:-help}"
[ "$#" -gt 0 ] && shift
# jemalloc for the presence authority: the copy of jemallocEnv in
# libs/testkit/src/service-flags.ts (same test); why in docs/decisions.md
# ("jemalloc for the authority"). LD_PRELOAD set on the container (even empty) wins.
if [ "$service" = presence-authority ] && [ -z "${LD_PRELOAD+set}" ]; then
  jemalloc="/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2"
  if [ -e "$jemalloc" ]; then export LD_PRELOAD="$jemalloc"; fi
fi
case "$service" in
  connection-node) exec node ${VIGIL_NODE_FLAGS-$node_flags_connection_node} /app/services/connection-node/dist/main.js "$@" ;;
  presence-authority) exec node ${VIGIL_NODE_FLAGS-$node_flags_presence_authority} /app/services/presence-authority/dist/main.js "$@" ;;
  vigil|cli) exec node /app/services/cli/bin/vigil.js "$@" ;;
  console) exec node /app/services/console/dist/main.js "$@" ;;
  help|--help|-h)
    echo "usage: IMAGE connection-node | presence-authority | console | vigil <command> [args]"
    echo "configuration comes from VIGIL_* environment variables (docs/configuration.md)"
    exit 0 ;;
  *)
    echo "unknown service: $service (expected connection-node, presence-authority, console or vigil)" >&2
    exit 64 ;;
esac
