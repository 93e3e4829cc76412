"""Where the layers meet: the core is a library without Dagster in rooms whose imports
point one way, and Dagster's private API is reached through one module of the code
location."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from sopilot_pipeline.core import ROOMS

PACKAGE = Path(__file__).resolve().parents[1] / "sopilot_pipeline"
CORE = PACKAGE / "core"


def _core_imports(path: Path) -> set[str]:
    """Rooms of the core a module imports (at the top or inside a function)."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["sopilot_pipeline", "core"] and len(parts) > 2:
                rooms.add(parts[2])
    return rooms - {"ROOMS"}


def test_importing_every_core_module_loads_no_dagster() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "import sopilot_pipeline.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'sopilot_pipeline.core.'):\n"
        "    importlib.import_module(m.name)\n"
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


def test_every_core_module_lives_in_a_room() -> None:
    loose = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert loose == []
    assert sorted(
        p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"
    ) == sorted(ROOMS)


def test_core_imports_point_one_way() -> None:
    """A module imports only its own room and the rooms before it."""
    wrong = []
    for path in sorted(CORE.rglob("*.py")):
        room = path.relative_to(CORE).parts[0]
        if room == "__init__.py":
            continue
        for other in _core_imports(path):
            if ROOMS.index(other) > ROOMS.index(room):
                wrong.append(f"{path.relative_to(CORE)} imports {other}")
    assert wrong == []


LONGEST = {"defs": 40, "core": 80}
"""Lines a function may take: an asset body is load, call the core, write, metadata."""


@pytest.mark.parametrize("layer", sorted(LONGEST))
def test_functions_stay_short(layer: str) -> None:
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (lines := node.end_lineno - node.lineno + 1) > LONGEST[layer]
    ]
    assert long == []
