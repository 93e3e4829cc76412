#!/usr/bin/env bash
# Set up with dev extras, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# the report test renders PDF pages with poppler's pdftoppm (Debian package poppler-utils)
if ! command -v pdftoppm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q poppler-utils >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q poppler-utils >/dev/null; }
  else
    sudo apt-get install -y -q poppler-utils >/dev/null
  fi
fi
.venv/bin/ruff check sopilot_pipeline sopilot_pipeline_tests
.venv/bin/python -m pytest -q "$@"
