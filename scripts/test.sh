#!/usr/bin/env bash
# Set up with dev extras, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check sopilot_pipeline sopilot_pipeline_tests
.venv/bin/python -m pytest -q "$@"
