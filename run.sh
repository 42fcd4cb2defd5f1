#!/usr/bin/env bash
# One command: install, set up SQLite with a demo access point and member, and serve.
# Arguments go to `radius-server demo` (and so to `serve`): ./run.sh --auth-port 11812
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
# Every radius-server command run in this directory reads ./radius-server.toml (when no
# --config or $RADIUS_CONFIG says otherwise), so a second terminal finds the demo's data
# in ./var without exporting anything. Written once; yours to edit.
if [ ! -e radius-server.toml ]; then
  cat >radius-server.toml <<'TOML'
# Settings for radius-server commands run in this directory (written by ./run.sh).
# Relative paths are relative to this file. All settings: README.md, "Configuration".
data_dir = "var"
TOML
fi
exec .venv/bin/radius-server demo "$@"
