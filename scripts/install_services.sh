#!/usr/bin/env bash
# Services the test suite starts on its own (a throwaway redis-server for the shared dedup index).
# Idempotent: installs only what is missing. Needs root or passwordless sudo for apt-get.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server present: $(redis-server --version | cut -d' ' -f3)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "redis-server is missing and apt-get is not available: install redis-server with this system's package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start a system-wide server; the tests start their own on a free port and do not need it.
echo "redis-server installed: $(redis-server --version | cut -d' ' -f3)"
