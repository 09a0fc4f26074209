#!/usr/bin/env bash
# Set up, then run the whole test suite (PostgreSQL tests need a server: see the README).
# Tests run on every core (pytest-xdist); each makes its own files and databases.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n auto "$@"
