"""How ``process`` turns the sensor's per-video requests into range runs."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, RunRequest, job, op
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from sopilot_pipeline.defs.sensors import WATCH_SENSOR_NAME, gold_job, trainee_job
from sopilot_pipeline.process import _ledger_key, already_done, plan_batches


def _request(job: str, key: str, assets: list[str] | None = None) -> RunRequest:
    selection = [AssetKey(a) for a in assets] if assets else None
    return RunRequest(
        run_key=f"{job}:{key}", job_name=job, partition_key=key, asset_selection=selection
    )


def test_batches_are_contiguous_ranges_of_one_job_and_selection() -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("trainee_videos", [f"t{i:02d}" for i in range(10)])
    instance.add_dynamic_partitions("gold_videos", ["g0", "g1"])
    full = ["trainee_video", "trainee_clip_embeddings", "trainee_alignment", "trainee_score"]
    scoring = ["trainee_alignment", "trainee_score"]
    requests = [
        *(_request(trainee_job.name, f"t{i:02d}", full) for i in (7, 0, 1, 2, 3, 5, 6)),
        _request(trainee_job.name, "t04", scoring),  # other selection: splits nothing else
        _request(gold_job.name, "g1"),
        _request(gold_job.name, "g0"),
    ]
    batches = plan_batches(instance, requests, max_partitions=3)
    shapes = sorted([r.partition_key for r in b] for b in batches)
    # t04 is not in the full-chain group, so t03 and t05 cannot share a range run
    assert shapes == [["g0", "g1"], ["t00", "t01", "t02"], ["t03"], ["t04"], ["t05", "t06", "t07"]]


@op
def finishes() -> None:
    pass


@op
def breaks() -> None:
    raise RuntimeError("boom")


@job
def good_job() -> None:
    finishes()


@job
def bad_job() -> None:
    breaks()


def test_already_done_knows_process_ledger_and_sensor_runs() -> None:
    instance = DagsterInstance.ephemeral()
    instance.run_storage.set_cursor_values({_ledger_key("by-process"): "run-1"})
    for key, tiny in (("by-sensor", good_job), ("failed", bad_job)):
        tiny.execute_in_process(
            instance=instance,
            tags={RUN_KEY_TAG: key, SENSOR_NAME_TAG: WATCH_SENSOR_NAME},
            raise_on_error=False,
        )
    assert already_done(instance, ["by-process", "by-sensor", "failed", "new"]) == {
        "by-process",
        "by-sensor",
    }
