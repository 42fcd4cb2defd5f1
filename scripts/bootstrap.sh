#!/usr/bin/env bash
# Install everything the project needs into .venv (and, for tests, Debian tools).
# Usage: scripts/bootstrap.sh [--test | --check]
#   --check: exit 0 when .venv is installed for this pyproject.toml, 1 if not; change nothing.
# A run after a successful one with the same pyproject.toml skips pip (fast, and works
# offline): .venv/.bootstrapped records what was installed ("run" or "test" + its hash).
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1
mode=run
[ "$want_tests" = 1 ] && mode=test
stamp_file=.venv/.bootstrapped
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)

up_to_date() {
  # "test" installs everything "run" does; the package must import (an editable install
  # whose checkout moved does not).
  [ -x .venv/bin/python ] && [ -f "$stamp_file" ] || return 1
  grep -qxF "test $digest" "$stamp_file" || { [ "$mode" = run ] && grep -qxF "run $digest" "$stamp_file"; } || return 1
  .venv/bin/python -c 'import radius_server' 2>/dev/null
}

if [ "${1:-}" = "--check" ]; then
  up_to_date
  exit
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  # Debian packages, installed only when missing and only if we may (root or sudo).
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pip_quiet() {
  # pip without its "WARNING: Location" noise; returns pip's own status.
  local status
  set +e
  .venv/bin/python -m pip "$@" 2>&1 | grep -v '^WARNING: Location'
  status=${PIPESTATUS[0]}
  set -e
  return "$status"
}

install_package() {
  pip_quiet install -q --upgrade pip || true # an old pip is fine (offline, say)
  pip_quiet install -q -e "$1" || { echo "error: pip install -e $1 failed" >&2; exit 1; }
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
if [ "$want_tests" = 1 ]; then
  up_to_date || install_package '.[test]'
  missing=()
  command -v radclient >/dev/null || missing+=(freeradius-utils)
  command -v eapol_test >/dev/null || missing+=(eapoltest)
  # hostapd and wpa_supplicant live in /usr/sbin, which a user's PATH may lack.
  command -v hostapd >/dev/null || [ -x /usr/sbin/hostapd ] || missing+=(hostapd)
  command -v wpa_supplicant >/dev/null || [ -x /usr/sbin/wpa_supplicant ] || missing+=(wpasupplicant)
  command -v ip >/dev/null || missing+=(iproute2)
  # The web pages' browser tests drive Debian's Chromium through its chromedriver.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  # promtool checks docs/prometheus-alerts.yml (tests/unit/test_metrics_docs.py).
  command -v promtool >/dev/null || missing+=(prometheus)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || echo "warning: could not install ${missing[*]}; tests that need them will skip (and fail under CI=true)" >&2
  fi
elif ! up_to_date; then
  install_package .
fi
.venv/bin/python -c 'import radius_server' || { echo "error: installation failed" >&2; exit 1; }
up_to_date || echo "$mode $digest" >"$stamp_file"
