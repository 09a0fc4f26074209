#!/usr/bin/env bash
# Set up, build the demo CRM, run this week's segmentation on it and print where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="$PWD"
exec .venv/bin/segmentation demo "$@"
