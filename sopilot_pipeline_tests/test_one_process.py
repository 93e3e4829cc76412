"""One ``sopilot-pipeline process`` at a time per instance: a second one started
while the first holds the instance waits for it (saying who holds it), then finds
everything done; no trainee is scored twice and the fresh instance is created once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sopilot_pipeline.cli import PROCESS_LOCK
from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.core.store.layout import DataLayout

CLI = str(Path(sys.executable).with_name("sopilot-pipeline"))


def _wait_until_holding(lock: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while f"pid {proc.pid} " not in (lock.read_text() if lock.exists() else ""):
        assert proc.poll() is None, "the first process exited before taking the lock"
        assert time.monotonic() < deadline, "the first process never took the lock"
        time.sleep(0.02)


def test_a_second_process_waits_for_the_first_and_scores_nothing_twice(
    demo_watch, tmp_path
) -> None:
    task = next(p for p in sorted(demo_watch.iterdir()) if p.is_dir())
    shutil.copytree(task, tmp_path / "data" / "watch" / task.name)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPILOT_", "DAGSTER_"))}
    env |= {"SOPILOT_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home")}
    command = [CLI, "process", "--settle-seconds", "0.1"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)

    # Overlap made certain, not left to timing: the first is paused while it holds the
    # lock, and resumed only once the second has said it is waiting.
    first = start()
    _wait_until_holding(tmp_path / "home" / PROCESS_LOCK, first)
    os.kill(first.pid, signal.SIGSTOP)
    # resumed in any case after a minute, so a second that waits silently fails, not hangs
    resume = threading.Timer(60, os.kill, (first.pid, signal.SIGCONT))
    resume.start()
    try:
        second = start()
        head = [second.stdout.readline() for _ in range(2)]
    finally:
        resume.cancel()
        os.kill(first.pid, signal.SIGCONT)
    assert f"waiting for sopilot-pipeline process pid {first.pid}" in head[1], head
    second_rest = second.communicate(timeout=600)[0]
    outputs = [first.communicate(timeout=600)[0], "".join(head) + second_rest]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert "waiting for" not in outputs[0], outputs[0]
    trainees = len(list((task / "trainee").iterdir()))
    records = read_audit_log(DataLayout(tmp_path / "data").audit_log)
    assert len(records) == trainees  # each trainee scored once, not once per process
    assert "runs: 0 succeeded, 0 failures" in outputs[1], outputs[1]  # found it all done
