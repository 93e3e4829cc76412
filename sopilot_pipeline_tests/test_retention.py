"""Retention: old raw videos go, scores, reports and the audit log stay; off by default."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster import DagsterInstance, DefaultScheduleStatus

from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.resources import SopilotSettings


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def _layout_with_videos(tmp_path: Path) -> tuple[SopilotSettings, dict[str, Path]]:
    settings = SopilotSettings(data_dir=str(tmp_path / "data"), retention_days=30)
    layout = settings.layout
    layout.ensure()
    files = {}
    for name, days in (("old", 45), ("recent", 3), ("edge", 29)):
        path = layout.raw / f"{name * 8}.mp4"
        path.write_bytes(os.urandom(1000))
        _age(path, days)
        files[name] = path
    kept = [layout.tables / "scores" / "task_id=t" / "k.parquet", layout.reports / "t" / "k.pdf"]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"kept")
        _age(path, 400)
        files[path.name] = path
    return settings, files


def _run(settings: SopilotSettings) -> None:
    job = build_definitions(settings).resolve_job_def("apply_retention_policy")
    assert job.execute_in_process(instance=DagsterInstance.ephemeral()).success


def test_old_raw_videos_are_deleted_and_everything_else_kept(tmp_path: Path) -> None:
    settings, files = _layout_with_videos(tmp_path)
    _run(settings)
    assert not files["old"].exists()
    assert files["recent"].exists() and files["edge"].exists()
    assert files["k.parquet"].read_bytes() == b"kept" and files["k.pdf"].read_bytes() == b"kept"
    (record,) = read_audit_log(settings.layout.audit_log)
    assert record["event"] == "retention"
    assert record["deleted_raw_videos"] == [files["old"].name]


def test_retention_is_opt_in(tmp_path: Path) -> None:
    settings, files = _layout_with_videos(tmp_path)
    _run(SopilotSettings(data_dir=settings.data_dir))  # SOPILOT_RETENTION_DAYS unset: 0
    assert all(p.exists() for p in files.values())
    schedule = build_definitions(settings).resolve_schedule_def("daily_retention")
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
