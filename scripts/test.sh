#!/usr/bin/env bash
# Set up with dev extras, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# Debian packages the tests use: poppler's pdftoppm renders report pages; Chromium is
# the browser the UI test drives (Playwright cannot download its own here); Redis is
# the Celery test's broker
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q "$@" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }
  else
    sudo apt-get install -y -q "$@" >/dev/null
  fi
}
command -v pdftoppm >/dev/null || apt_install poppler-utils
command -v chromium >/dev/null || apt_install chromium
# the Celery test starts its own throwaway Redis broker from Debian's binary
command -v redis-server >/dev/null || apt_install redis-server
.venv/bin/ruff check sopilot_pipeline sopilot_pipeline_tests
.venv/bin/python -m pytest -q "$@"
