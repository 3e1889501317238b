#!/usr/bin/env bash
# Services the test suite starts on its own: a throwaway redis-server (shared dedup index) and a throwaway
# PostgreSQL cluster (the feedback store and the Dagster instance on PostgreSQL), each on a free local port.
# Idempotent: installs only what is missing. Needs root or passwordless sudo for apt-get.
set -euo pipefail

missing=()
if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server present: $(redis-server --version | cut -d' ' -f3)"
else
    missing+=(redis-server)
fi
# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH; the tests look there too.
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "postgresql present: $(ls -d /usr/lib/postgresql/*/ 2>/dev/null | xargs -n1 basename | tr '\n' ' ')"
else
    missing+=(postgresql)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing ${missing[*]} and apt-get is not available: install them with this system's package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages may start system-wide servers; the tests start their own on free ports and do not need them.
echo "installed: ${missing[*]}"
