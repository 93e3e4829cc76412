"""One ``sopilot-pipeline process`` at a time per instance: a second one started
together waits for the first (saying who holds the instance), then finds everything
done; no trainee is scored twice and the fresh instance is created once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.core.store.layout import DataLayout

CLI = str(Path(sys.executable).with_name("sopilot-pipeline"))


def test_two_processes_started_together_score_each_trainee_once(demo_watch, tmp_path) -> None:
    task = next(p for p in sorted(demo_watch.iterdir()) if p.is_dir())
    shutil.copytree(task, tmp_path / "data" / "watch" / task.name)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPILOT_", "DAGSTER_"))}
    env |= {"SOPILOT_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home")}
    command = [CLI, "process", "--settle-seconds", "0.1"]
    procs = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("waiting for sopilot-pipeline process pid" in out for out in outputs) == 1, outputs
    trainees = len(list((task / "trainee").iterdir()))
    records = read_audit_log(DataLayout(tmp_path / "data").audit_log)
    assert len(records) == trainees  # each trainee scored once, not once per process
    # the second found it all done: no run of its own
    second = next(out for out in outputs if "waiting for" in out)
    assert "runs: 0 succeeded, 0 failures" in second, second
