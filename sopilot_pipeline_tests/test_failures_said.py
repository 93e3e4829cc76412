"""Every failure is said once, clearly: ``process`` exits non-zero naming the partition,
the step and the reason in one line (tracebacks only with ``--verbose``), and a task
without a gold is one line, not a failure."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from sopilot_pipeline import cli
from sopilot_pipeline.defs import align as scoring


def _one_task(demo_watch: Path, data: Path, gold: bool = True) -> None:
    task = next(p for p in sorted(demo_watch.iterdir()) if p.is_dir())
    shutil.copytree(task, data / "watch" / task.name)
    if not gold:
        shutil.rmtree(data / "watch" / task.name / "gold")


def _run_cli(monkeypatch, data: Path, *args: str) -> int:
    monkeypatch.setenv("SOPILOT_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(data.parent / "home"))
    (data.parent / "home").mkdir(exist_ok=True)
    return cli.main(["process", "--settle-seconds", "0.1", *args])


def test_a_failed_step_exits_1_with_one_line_naming_partition_step_and_reason(
    demo_watch, tmp_path, monkeypatch, capfd
) -> None:
    _one_task(demo_watch, tmp_path / "data")

    def disk_full(*_args, **_kwargs):  # the fault: the disk fills while saving
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scoring, "save_trainee_alignment", disk_full)
    assert _run_cli(monkeypatch, tmp_path / "data") == 1
    out, err = capfd.readouterr()
    failed = [line for line in out.splitlines() if "FAILED" in line]
    trainees = sorted(p.stem for p in (tmp_path / "data/watch").glob("*/trainee/*"))
    assert len(failed) == len(trainees) >= 2, out  # one line per failed partition
    for line, trainee in zip(failed, trainees, strict=True):
        assert f"__{trainee}__" in line  # its own partition key
        assert "step trainee_alignment: OSError" in line and "No space left on device" in line
    assert "Traceback" not in out + err
    assert f"runs: 1 succeeded, {len(trainees)} failures" in out

    # with --verbose Dagster's own account (the traceback) is shown as well
    assert _run_cli(monkeypatch, tmp_path / "data", "--verbose") == 1
    out, err = capfd.readouterr()
    assert "No space left on device" in out
    assert "Traceback" in out + err or "Stack Trace" in out + err


def test_trainees_without_a_gold_wait_in_one_line_and_nothing_fails(
    demo_watch, tmp_path, monkeypatch, capfd
) -> None:
    _one_task(demo_watch, tmp_path / "data", gold=False)
    assert _run_cli(monkeypatch, tmp_path / "data") == 0
    out, err = capfd.readouterr()
    assert "FAILED" not in out and "runs: 0 succeeded, 0 failures" in out  # no run for it
    waiting = [line for line in out.splitlines() if line.startswith("waiting for a gold video")]
    assert len(waiting) == 1 and "trainee videos not scored" in waiting[0], out
    assert "Traceback" not in out + err and "cannot fit a feature adapter" not in out + err
