#!/usr/bin/env bash
# One command: install what the tests need, lint, and run the whole test suite.
# Under CI=true a test that would skip for a missing prerequisite fails instead.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh --test
.venv/bin/ruff check radius_server tests bench db
.venv/bin/ruff format --check radius_server tests bench db
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "error: no tests ran" >&2
  exit 1
fi
exit "$status"
