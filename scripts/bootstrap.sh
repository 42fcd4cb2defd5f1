#!/usr/bin/env bash
# Install everything the project needs into .venv (and, for tests, Debian tools).
# Usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  # Debian packages, installed only when missing and only if we may (root or sudo).
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv || { echo "error: install python3-venv" >&2; exit 1; }
    "$PYTHON" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
if [ "$want_tests" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
  missing=()
  command -v radclient >/dev/null || missing+=(freeradius-utils)
  command -v eapol_test >/dev/null || missing+=(eapoltest)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || echo "warning: could not install ${missing[*]}; tests that need them will skip (and fail under CI=true)" >&2
  fi
else
  .venv/bin/python -m pip install -q -e . 2>&1 | grep -v '^WARNING: Location' || true
fi
.venv/bin/python -c 'import radius_server' || { echo "error: installation failed" >&2; exit 1; }
