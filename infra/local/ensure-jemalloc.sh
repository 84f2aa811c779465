#!/usr/bin/env bash
# Installs Debian's libjemalloc2 for the presence authority when it is missing
# and we are root with apt (docs/decisions.md, "jemalloc for the authority").
# Optional: without it the authority runs on glibc's malloc (its "ready" log
# line says which), so this never fails the command that calls it.
set -uo pipefail

# A copy of JEMALLOC_PATHS in libs/testkit/src/service-flags.ts (service-flags.test.ts keeps them equal).
paths="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2"
have() { for p in $paths; do [ -e "$p" ] && return 0; done; return 1; }
have && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "libjemalloc2 not found: installing Debian's libjemalloc2 package for the presence authority" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends libjemalloc2 >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends libjemalloc2 >/dev/null 2>&1; }
  have && exit 0
fi
echo "note: libjemalloc2 is not installed; the presence authority will use glibc's malloc (longer full-GC pauses under gRPC load, docs/decisions.md). Install it with: apt-get install libjemalloc2" >&2
exit 0
