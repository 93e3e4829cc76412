"""Where the layers meet: the core is a library without Dagster, and Dagster's private
API is reached through one module of the code location."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sopilot_pipeline"


def test_importing_every_core_module_loads_no_dagster() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "import sopilot_pipeline.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('sopilot_pipeline.core.' + m.name)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'dagster'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_dagster_private_api_is_reached_through_one_module() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "dagster._" in path.read_text(encoding="utf-8")
    )
    assert users == ["defs/dagster_internals.py"]
