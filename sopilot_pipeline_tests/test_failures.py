"""Faults: a failing step is recorded per partition by the run-failure sensor."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
from dagster import AssetKey, DagsterEventType, DagsterInstance, build_run_status_sensor_context
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.failures import record_failed_runs
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder


def test_a_failed_range_run_records_each_of_its_partitions(
    demo_watch: Path, tmp_path: Path
) -> None:
    shutil.copytree(demo_watch / "pack_first_aid_kit", tmp_path / "data/watch/pack_first_aid_kit")
    settings = SopilotSettings(data_dir=str(tmp_path / "data"))
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    assert (
        process_watch_folder(settle_seconds=0.1, settings=settings, instance=instance).failed_runs
        == []
    )
    keys = instance.get_dynamic_partitions("trainee_videos")
    assert len(keys) == 5
    # the fault: one trainee's saved alignment is garbage, so re-scoring it fails
    settings.layout.alignment(keys[2]).write_bytes(b"not an npz file")
    job = build_definitions(settings).resolve_job_def("score_trainee_video")
    result = job.execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[1], ASSET_PARTITION_RANGE_END_TAG: keys[3]},
        asset_selection=[AssetKey("trainee_score")],
        raise_on_error=False,
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    (failure,) = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="record_failed_runs",
        dagster_event=failure.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"settings": settings},
    ).for_run_failure()
    record_failed_runs(context)
    rows = pl.read_parquet(tmp_path / f"data/tables/failed_runs/{result.run_id}.parquet")
    assert rows["partition_key"].to_list() == keys[1:4]
    assert set(rows["failed_steps"]) == {"trainee_score"}
    assert (rows["job"] == "score_trainee_video").all()
    # the two good partitions of the range were still materialised, the broken one not
    events = result.get_asset_materialization_events()
    assert {e.partition for e in events} == {keys[1], keys[3]}
