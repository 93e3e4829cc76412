"""Long-running Dagster commands (daemon, ``dagster dev``) started for a test, each in a
process group of its own, and stopped with everything they started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running(
    command: list[str], log: Path, cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    """``command`` running, its output in ``log``; SIGTERM to its group at the end, then
    SIGKILL after 30 s (``dagster dev`` ignores SIGTERM outside job control)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):  # a test may have killed it
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
