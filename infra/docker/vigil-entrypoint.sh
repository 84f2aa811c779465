#!/bin/sh
# Selects the Vigil process the container runs. exec: node becomes tini's
# child directly and receives SIGTERM itself.
set -eu
service="${1:-help}"
[ "$#" -gt 0 ] && shift
case "$service" in
  connection-node) exec node /app/services/connection-node/dist/main.js "$@" ;;
  presence-authority) exec node /app/services/presence-authority/dist/main.js "$@" ;;
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
