"""Range runs started at once in processes of their own, as the daemon would start them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_ranges(
    script: str, ranges: list[tuple[str, str]], env: dict[str, str], timeout: float = 600
) -> list[tuple[int, str]]:
    """Runs ``python -c script <first key> <last key>`` for every range at the same time;
    (exit status, output) of each, in order."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, start, end],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for start, end in ranges
    ]
    outputs = [run.communicate(timeout=timeout)[0] for run in runs]
    return [(run.returncode, out) for run, out in zip(runs, outputs, strict=True)]
