#!/usr/bin/env bash
# Create .venv/ in the repo root and install the project (with dev extras when asked).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
# the embedded Dagster instance lives in data/dagster (DAGSTER_HOME in the README), with
# a copy of the project's dagster.yaml (a copy, not a link: whatever writes the
# instance's yaml must never edit the repository's), so it is one instance from any folder
mkdir -p data/dagster
if [ ! -e data/dagster/dagster.yaml ]; then
  cp dagster.yaml data/dagster/dagster.yaml
fi
