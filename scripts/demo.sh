#!/usr/bin/env bash
# Set up, write the demo videos into data/watch, and run the pipeline once on the
# embedded (SQLite) Dagster instance in $SOPILOT_DATA_DIR/dagster (./dagster.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SOPILOT_DATA_DIR="${SOPILOT_DATA_DIR:-$PWD/data}"
if [ ! -f "$SOPILOT_DATA_DIR/watch/demo_ground_truth.json" ]; then
  .venv/bin/sopilot-pipeline demo-data "$SOPILOT_DATA_DIR/watch"
fi
.venv/bin/sopilot-pipeline process
echo
echo "Open the Dagster UI on the same instance with:"
echo "  DAGSTER_HOME=$SOPILOT_DATA_DIR/dagster SOPILOT_DATA_DIR=$SOPILOT_DATA_DIR .venv/bin/dagster dev -w workspace.yaml"
