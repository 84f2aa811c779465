#!/usr/bin/env bash
# Installs Debian's libjemalloc2 for the presence authority when it is missing
# and we are root with apt (docs/decisions.md, "jemalloc for the authority").
# Optional: without it the authority runs on glibc's malloc (its "ready" log
# line says which), so this never fails the command that calls it. apt's
# network steps are given a minute each; the install itself is not cut short
# (a dpkg killed half-way would leave the package system to repair).
set -uo pipefail

# The path jemallocEnv in libs/testkit/src/service-flags.ts looks at (service-flags.test.ts keeps them equal).
lib="/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2"
[ -e "$lib" ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "libjemalloc2 not found: installing Debian's libjemalloc2 package for the presence authority" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_quick=(-o Acquire::Retries=0 -o Acquire::http::Timeout=10 -o Acquire::https::Timeout=10)
  fetch() { timeout 60 apt-get "${apt_quick[@]}" install -y --download-only --no-install-recommends libjemalloc2 >/dev/null 2>&1; }
  { fetch || { timeout 60 apt-get "${apt_quick[@]}" update >/dev/null 2>&1 && fetch; }; } \
    && apt-get install -y --no-install-recommends libjemalloc2 >/dev/null 2>&1
  [ -e "$lib" ] && exit 0
fi
echo "note: libjemalloc2 is not installed; the presence authority will use glibc's malloc (longer full-GC pauses under gRPC load, docs/decisions.md). Install it with: apt-get install libjemalloc2" >&2
exit 0
