"""No entry in the watch folder can stop another: a symlink loop, a task id too long to
name a folder, a directory or a FIFO named like a video, an unreadable file. Each is
rejected with a reason and every other task is scored; ``process`` exits 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
from dagster import DagsterInstance

from sopilot_pipeline.core.watch import scan as watch
from sopilot_pipeline.defs import ingest
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder

BIN = Path(sys.executable).parent
LONG_TASK = "Prüfung " + "ü" * 50  # 108 bytes as a folder name, 306 percent-encoded


def _rejections(data: Path) -> dict[str, str]:
    rows = pl.read_parquet(str(data / "tables/rejected_videos/**/*.parquet"))
    return dict(zip(rows["video"], rows["reason"], strict=True))


def _scored(data: Path) -> set[tuple[str, str]]:
    rows = pl.read_parquet(str(data / "tables/scores/**/*.parquet"), hive_partitioning=True)
    return set(zip(rows["task_id"], rows["trainee_video"], strict=True))


def _task(data: Path, demo_watch: Path, task: str) -> Path:
    """A task with the demo gold and one clean trainee; returns its trainee folder."""
    source = demo_watch / "assemble_valve"
    shutil.copytree(source / "gold", data / "watch" / task / "gold")
    trainee = data / "watch" / task / "trainee"
    trainee.mkdir()
    shutil.copy(source / "trainee" / "clean_1.mp4", trainee / "clean.mp4")
    return trainee


def test_bad_entries_are_rejected_and_every_other_task_scored(
    demo_watch: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    trainee = _task(data, demo_watch, "valve")
    (trainee / "loop.mp4").symlink_to("loop.mp4")  # a link to itself
    (trainee / "a.mp4").symlink_to("b.mp4")
    (trainee / "b.mp4").symlink_to("a.mp4")
    (trainee / "folder.mp4").mkdir()
    os.mkfifo(trainee / "pipe.mp4")  # reading it would block forever
    _task(data, demo_watch, LONG_TASK)
    env = {**os.environ, "SOPILOT_DATA_DIR": str(data), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    result = subprocess.run(
        [str(BIN / "sopilot-pipeline"), "process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scored(data) == {("valve", "clean.mp4")}
    reasons = _rejections(data)
    for name in ("loop.mp4", "a.mp4", "b.mp4"):
        assert "round in a loop" in reasons[name]
    assert reasons["folder.mp4"] == "not a regular file: a directory (not read)"
    assert reasons["pipe.mp4"] == "not a regular file: a named pipe (not read)"
    # the long task's gold and trainee, each rejected with the reason, none scored
    assert "task id too long" in reasons["gold.mp4"]
    assert "task id too long" in reasons["clean.mp4"]
    assert "rejected videos (7)" in result.stdout
    # progress, one plain line per run when not on a terminal, on stderr
    assert "progress: " in result.stderr and " elapsed" in result.stderr, result.stderr
    # nothing is left to do: a second pass runs nothing and still exits 0
    again = subprocess.run(
        [str(BIN / "sopilot-pipeline"), "process"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0 and "runs: 0 succeeded, 0 failures" in again.stdout


def test_an_unreadable_file_is_rejected_not_skipped(
    demo_watch: Path, tmp_path: Path, monkeypatch
) -> None:
    """Permission denied (as a non-root user would meet it; injected, since tests may
    run as root, who can read anything)."""
    data = tmp_path / "data"
    trainee = _task(data, demo_watch, "valve")
    shutil.copy(trainee / "clean.mp4", trainee / "locked.mp4")
    real = watch.sha256_file

    def permission_denied_for_locked(path: Path) -> str:
        if path.name == "locked.mp4":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(watch, "sha256_file", permission_denied_for_locked)
    monkeypatch.setattr(ingest, "sha256_file", permission_denied_for_locked)
    (tmp_path / "home").mkdir()
    outcome = process_watch_folder(
        settle_seconds=0.1,
        settings=SopilotSettings(data_dir=str(data)),
        instance=DagsterInstance.local_temp(str(tmp_path / "home")),
    )
    assert outcome.failed_runs == []
    assert _rejections(data) == {"locked.mp4": "cannot read file: Permission denied"}
    assert _scored(data) == {("valve", "clean.mp4")}
