#!/usr/bin/env bash
# Set up, then run the whole test suite (PostgreSQL tests need a server: see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
