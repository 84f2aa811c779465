#!/usr/bin/env bash
# Makes `promtool` available for the alert-rule tests (test/src/infra/
# observability.test.ts), run by `pretest`. Order: $PROMTOOL_BIN, then PATH,
# then Debian's `prometheus` package (which ships promtool), installed with apt
# when we are root. Never fails the test run: without promtool the test skips
# its promtool part with the reason and runs the built-in checks only.
set -uo pipefail

if [ -n "${PROMTOOL_BIN:-}" ]; then
  [ -x "$PROMTOOL_BIN" ] && exit 0
  echo "PROMTOOL_BIN=$PROMTOOL_BIN is not an executable file; rule tests will skip promtool" >&2
  exit 0
fi
command -v promtool >/dev/null 2>&1 && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "promtool not found: installing Debian's prometheus package (for promtool only)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package's service must not start here: policy-rc.d 101 forbids it for this install.
  policy=/usr/sbin/policy-rc.d
  created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1; fi
  apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1; }
  [ "$created" = 1 ] && rm -f "$policy"
  command -v promtool >/dev/null 2>&1 && exit 0
  echo "could not install prometheus (promtool) with apt; rule tests will skip promtool" >&2
  exit 0
fi
echo "promtool is not installed (apt-get install prometheus, as root, provides it); rule tests will skip promtool" >&2
exit 0
