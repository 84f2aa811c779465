#!/usr/bin/env bash
# Makes sure a nats-server binary (>= 2.9) is available for `npm start` and
# `npm test`. Order: $NATS_SERVER_BIN, then PATH, then Debian's package
# (installed with apt when we are root). Never downloads binaries from
# elsewhere.
set -euo pipefail

if [ -n "${NATS_SERVER_BIN:-}" ]; then
  if [ -x "$NATS_SERVER_BIN" ]; then exit 0; fi
  echo "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable file" >&2
  exit 1
fi
if command -v nats-server >/dev/null 2>&1; then exit 0; fi

install_cmd="apt-get update && apt-get install -y --no-install-recommends nats-server"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server not found: installing Debian's nats-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y --no-install-recommends nats-server >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends nats-server >/dev/null; }; then
    command -v nats-server >/dev/null 2>&1 && exit 0
  fi
  echo "could not install nats-server with apt; run: $install_cmd" >&2
  exit 1
fi

echo "nats-server is not installed. Install it with:" >&2
if command -v sudo >/dev/null 2>&1; then
  echo "  sudo sh -c '$install_cmd'" >&2
else
  echo "  $install_cmd   (as root)" >&2
fi
echo "or set NATS_SERVER_BIN to a nats-server binary (2.9 or newer)." >&2
exit 1
