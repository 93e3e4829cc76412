"""Faults: a `process` killed (SIGKILL) at any moment leaves no partial artefact that a
reader would pick up, and the next `process` finishes the work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.core.video.decode import probe_video


def _assert_every_artefact_is_whole(data: Path) -> int:
    checked = 0
    for path in data.rglob("*"):
        rel = path.relative_to(data)
        if not path.is_file() or rel.parts[0] in ("watch", "dagster"):
            continue
        if path.name.startswith("."):
            assert path.suffix == ".partial", path  # a killed write's leftover, hidden
            continue
        if path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".npy":
            np.load(path)
        elif path.suffix == ".npz":
            with np.load(path) as f:
                [f[k] for k in f.files]
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pdf":
            content = path.read_bytes()
            assert content.startswith(b"%PDF") and b"%%EOF" in content[-1024:], path
        elif path.suffix == ".jsonl":
            read_audit_log(path)
        elif path.suffix == ".mp4":
            probe_video(path)
        checked += 1
    for table in ("scores", "deviations", "steps"):  # what analysts run still works
        if (data / "tables" / table).is_dir():
            pl.scan_parquet(str(data / "tables" / table / "**/*.parquet")).collect()
    return checked


def test_killed_process_leaves_nothing_partial_and_resumes(
    demo_watch: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_watch, data / "watch")
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "SOPILOT_DATA_DIR": str(data),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    command = [str(Path(sys.executable).with_name("sopilot-pipeline")), "process"]
    command += ["--settle-seconds", "0.1"]
    checked = []
    for delay in (5.0, 8.0, 11.0, 14.0):
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        checked.append(_assert_every_artefact_is_whole(data))
    assert checked[-1] > 0  # the kills landed while work was being written
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    _assert_every_artefact_is_whole(data)
    scores = pl.read_parquet(str(data / "tables/scores/**/*.parquet"))
    assert len(scores) == 10
