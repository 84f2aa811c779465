#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is available for the console's
# browser tests (playwright-core drives it; it downloads no browser itself).
# Order: $CHROMIUM_BIN, then chromium on PATH, then Debian's chromium package
# (installed with apt when we are root). Never downloads binaries from
# elsewhere. Prints nothing and exits 0 when Chromium is already there.
set -euo pipefail

if [ -n "${CHROMIUM_BIN:-}" ]; then
  if [ -x "$CHROMIUM_BIN" ]; then exit 0; fi
  echo "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file" >&2
  exit 1
fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi

install_cmd="apt-get update && apt-get install -y --no-install-recommends chromium"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package (for the console's browser tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium >/dev/null; }; then
    command -v chromium >/dev/null 2>&1 && exit 0
  fi
  echo "could not install chromium with apt; run: $install_cmd" >&2
  exit 1
fi

echo "chromium is not installed (the console's browser tests need it). Install it with:" >&2
if command -v sudo >/dev/null 2>&1; then
  echo "  sudo sh -c '$install_cmd'" >&2
else
  echo "  $install_cmd   (as root)" >&2
fi
echo "or set CHROMIUM_BIN to a Chromium or Chrome binary." >&2
exit 1
