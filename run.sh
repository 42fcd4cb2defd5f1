#!/usr/bin/env bash
# One command: install, set up SQLite with a demo access point and member, and serve.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
export RADIUS_DATA_DIR="${RADIUS_DATA_DIR:-$PWD/var}"
exec .venv/bin/radius-server demo "$@"
