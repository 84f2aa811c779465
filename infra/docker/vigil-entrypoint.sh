#!/bin/sh
# Selects the Vigil process the container runs. exec: node becomes tini's
# child directly and receives SIGTERM itself.
set -eu
# VIGIL_NODE_FLAGS: Node/V8 flags of the two services (a copy of SERVICE_NODE_FLAGS in
# libs/testkit/src/service-flags.ts, kept equal by a test). --optimize-for-size keeps V8's heap
# tight so an idle session costs little more RSS than its live heap (docs/decisions.md).
# Set it to an empty value to run without; it is not NODE_OPTIONS because Node refuses
# --optimize-for-size there.
: "${VIGIL_NODE_FLAGS=--optimize-for-size}"
service="${1:-help}"
[ "$#" -gt 0 ] && shift
case "$service" in
  connection-node) exec node $VIGIL_NODE_FLAGS /app/services/connection-node/dist/main.js "$@" ;;
  presence-authority) exec node $VIGIL_NODE_FLAGS /app/services/presence-authority/dist/main.js "$@" ;;
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
