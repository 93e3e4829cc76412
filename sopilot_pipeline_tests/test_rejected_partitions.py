"""A refused video leaves its role's partitions, so the task's lineage shows all done,
and gets a partition of ``rejected_video`` that says why; fixed, it comes back."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from sopilot_pipeline.defs.partitions import rejected_video_partitions, trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder


def _materialised(instance: DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(asset)))


def test_a_rejected_video_leaves_the_lineage_and_comes_back_when_fixed(
    demo_watch: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    task = data / "watch" / "valve"
    shutil.copytree(demo_watch / "assemble_valve" / "gold", task / "gold")
    (task / "trainee").mkdir()
    shutil.copy(demo_watch / "assemble_valve" / "trainee" / "clean_1.mp4", task / "trainee")
    good = (demo_watch / "assemble_valve" / "trainee" / "clean_2.mp4").read_bytes()
    broken = task / "trainee" / "broken.mp4"
    broken.write_bytes(good[:5000])  # cut short
    settings = SopilotSettings(data_dir=str(data))
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))

    process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    (key,) = instance.get_dynamic_partitions(rejected_video_partitions.name)
    assert "broken" in key
    trainees = instance.get_dynamic_partitions(trainee_videos.name)
    assert key not in trainees and len(trainees) == 1
    for asset in ("trainee_video", "trainee_clip_embeddings", "trainee_alignment"):
        assert _materialised(instance, asset) >= set(trainees), asset  # all green
    event = instance.get_latest_materialization_event(AssetKey("rejected_video"))
    assert event.asset_materialization.partition == key
    assert "not a readable video" in event.asset_materialization.metadata["rejected"].value

    broken.write_bytes(good)  # the operator puts the whole file back
    outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    assert not outcome.failed_runs
    assert key in instance.get_dynamic_partitions(trainee_videos.name)
    assert key not in instance.get_dynamic_partitions(rejected_video_partitions.name)
    trainees = instance.get_dynamic_partitions(trainee_videos.name)
    assert len(trainees) == 2 and _materialised(instance, "trainee_score") >= set(trainees)
