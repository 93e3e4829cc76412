"""What is done follows the content and the outputs present, not a record of run keys:
content put back is re-scored, deleted outputs and a fresh data root are redone, and a
gold whose steps failed is retried with its trainees on the next pass."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from sopilot_pipeline.defs import segment as scoring
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import ProcessOutcome, process_watch_folder

TASK = "assemble_valve"


def _drop(demo_watch: Path, data: Path) -> Path:
    """The demo task's gold and one trainee ``t.mp4`` (clean); returns the task folder."""
    task = data / "watch" / TASK
    shutil.copytree(demo_watch / TASK / "gold", task / "gold")
    (task / "trainee").mkdir()
    shutil.copy(demo_watch / TASK / "trainee" / "clean_1.mp4", task / "trainee" / "t.mp4")
    return task


def _put(source: Path, target: Path) -> None:
    """Replace ``target``'s content, with a new mtime as a copy would have."""
    shutil.copy(source, target)
    later = time.time_ns() + 1_000_000_000
    os.utime(target, ns=(later, later))


def _pass(data: Path, instance: DagsterInstance) -> ProcessOutcome:
    return process_watch_folder(
        settle_seconds=0.05, settings=SopilotSettings(data_dir=str(data)), instance=instance
    )


def _reasons(instance: DagsterInstance) -> tuple[str, str]:
    """Why the latest trainee run ran, from its tags and from its score's metadata."""
    (run,) = instance.get_runs(RunsFilter(job_name="score_trainee_video"), limit=1)
    event = instance.get_latest_materialization_event(AssetKey("trainee_score"))
    return run.tags["sopilot/reason"], event.asset_materialization.metadata["reason"].value


def _score(data: Path) -> float:
    (score,) = pl.read_parquet(str(data / "tables/scores/**/*.parquet"))["score"].to_list()
    return score


@pytest.fixture
def instance(tmp_path: Path) -> DagsterInstance:
    (tmp_path / "home").mkdir()
    return DagsterInstance.local_temp(str(tmp_path / "home"))


def test_content_put_back_is_scored_again(
    demo_watch: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    data = tmp_path / "data"
    task = _drop(demo_watch, data)
    trainee, gold = task / "trainee" / "t.mp4", task / "gold" / "gold.mp4"
    assert _pass(data, instance).failed_runs == []
    score_a = _score(data)
    _put(demo_watch / TASK / "trainee" / "missing_step_3.mp4", trainee)  # A -> B
    assert _pass(data, instance).succeeded_runs == 1
    score_b = _score(data)
    assert score_b < score_a - 5
    assert _reasons(instance) == ("changed file", "changed file")
    _put(demo_watch / TASK / "trainee" / "clean_1.mp4", trainee)  # B -> A
    assert _pass(data, instance).succeeded_runs == 1
    assert _score(data) == score_a
    # the same for a gold: another task's gold, then the real one back
    _put(demo_watch / "pack_first_aid_kit" / "gold" / "gold.mp4", gold)
    assert _pass(data, instance).succeeded_runs == 2  # the gold, then its trainee
    assert _score(data) != score_a
    assert _reasons(instance) == ("new or changed gold", "new or changed gold")
    _put(demo_watch / TASK / "gold" / "gold.mp4", gold)
    assert _pass(data, instance).succeeded_runs == 2
    assert _score(data) == score_a


def test_deleted_outputs_and_a_fresh_data_root_are_redone(
    demo_watch: Path, tmp_path: Path, instance: DagsterInstance
) -> None:
    data = tmp_path / "data"
    _drop(demo_watch, data)
    _pass(data, instance)
    score = _score(data)
    (report,) = (data / "reports").rglob("*.pdf")
    report.unlink()
    again = _pass(data, instance)
    assert again.succeeded_runs == 1 and again.already_done == 1  # the gold is still done
    assert report.exists()
    # the same instance, a data root with only the watch folder: everything is redone
    fresh = tmp_path / "fresh"
    shutil.copytree(data / "watch", fresh / "watch")
    outcome = _pass(fresh, instance)
    assert outcome.already_done == 0 and outcome.failed_runs == []
    assert _score(fresh) == score


def test_a_gold_whose_steps_failed_is_retried_with_its_trainees(
    demo_watch: Path, tmp_path: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    _drop(demo_watch, data)

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(scoring, "detect_gold_steps", disk_full)
        first = _pass(data, instance)
    assert len(first.failed_runs) == 1 and "No space left on device" in first.failed_runs[0]
    assert first.waiting == {TASK: 1}
    assert not (data / "tables" / "scores").exists()
    second = _pass(data, instance)
    assert second.failed_runs == [] and second.already_done == 0
    assert 0 <= _score(data) <= 100
