"""One-shot processing: the watch sensor's and the adapter schedule's work, run to completion.

Runs go through the configured Dagster instance (they show in the UI like any other),
are tagged with the sensor's run keys, and a run key that already succeeded is not
run again, so ``process`` is idempotent across invocations.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    SensorResult,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.adapter import adapter_training_due, feature_adapter
from sopilot_pipeline.defs.ingest import rejected_rows
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.sensors import WATCH_SENSOR_NAME, watch_folder_sensor

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class ProcessOutcome:
    settings: SopilotSettings
    succeeded_runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    skipped_run_keys: set[str] = field(default_factory=set)


def _already_succeeded(instance: DagsterInstance, run_key: str) -> bool:
    runs = instance.get_runs(
        RunsFilter(
            tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: WATCH_SENSOR_NAME},
            statuses=[DagsterRunStatus.SUCCESS],
        ),
        limit=1,
    )
    return bool(runs)


def _execute(
    defs: Definitions, instance: DagsterInstance, request: RunRequest, outcome: ProcessOutcome
) -> None:
    job = defs.resolve_job_def(request.job_name)
    tags = {**request.tags, SENSOR_NAME_TAG: WATCH_SENSOR_NAME, "sopilot/launched_by": "process"}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    result = job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=tags,
        asset_selection=request.asset_selection,
        raise_on_error=False,
        run_config=QUIET,
    )
    if result.success:
        outcome.succeeded_runs += 1
    else:
        outcome.failed_runs.append(
            f"{request.job_name}[{request.partition_key}] run {result.run_id}"
        )


def _tick(
    defs: Definitions, instance: DagsterInstance, settings: SopilotSettings, cursor: str | None
) -> SensorResult:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        sensor_name=WATCH_SENSOR_NAME,
        resources={"settings": settings},
        definitions=defs,
    )
    return watch_folder_sensor(context)


def process_watch_folder(
    settle_seconds: float = 1.0,
    max_ticks: int = 50,
    settings: SopilotSettings | None = None,
    instance: DagsterInstance | None = None,
) -> ProcessOutcome:
    settings = settings or SopilotSettings.from_env()
    settings.layout.ensure()
    defs = build_definitions(settings)
    instance = instance or DagsterInstance.get()
    outcome = ProcessOutcome(settings)
    cursor: str | None = None
    quiet_ticks = 0
    for tick in range(max_ticks):
        result = _tick(defs, instance, settings, cursor)
        cursor = result.cursor
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        runs = []
        for r in result.run_requests or []:
            if r.run_key and _already_succeeded(instance, r.run_key):
                outcome.skipped_run_keys.add(r.run_key)
            else:
                runs.append(r)
        for request in sorted(runs, key=lambda r: r.job_name != "ingest_gold_video"):
            _execute(defs, instance, request, outcome)
        due, why = adapter_training_due(
            settings.layout, settings.embedder.name, settings.training_min_new_videos
        )
        if due:
            print(f"training feature adapter: {why}")
            res = materialize(
                [feature_adapter],
                instance=instance,
                resources={"settings": settings},
                raise_on_error=False,
                tags={"sopilot/launched_by": "process"},
                run_config=QUIET,
            )
            if not res.success:
                outcome.failed_runs.append(f"feature_adapter run {res.run_id}")
            continue
        if runs:
            quiet_ticks = 0
            continue
        settling = any(v[2] is None for v in json.loads(cursor)["files"].values())
        quiet_ticks += 1
        if quiet_ticks >= 2 and not settling:
            break
        if tick < max_ticks - 1:
            time.sleep(settle_seconds)
    return outcome


def print_summary(outcome: ProcessOutcome) -> None:
    import polars as pl

    layout = outcome.settings.layout
    print(
        f"runs: {outcome.succeeded_runs} succeeded, {len(outcome.failed_runs)} failed, "
        f"{len(outcome.skipped_run_keys)} already done earlier"
    )
    for failed in outcome.failed_runs:
        print(f"  FAILED {failed}")
    rejected = rejected_rows(layout)
    if rejected:
        print(f"rejected videos ({len(rejected)}):")
        for row in rejected:
            print(f"  {row['task_id']}/{row['role']}/{row['video']}: {row['reason']}")
    scores_dir = layout.tables / "scores"
    if scores_dir.is_dir() and any(scores_dir.rglob("*.parquet")):
        scores = (
            pl.scan_parquet(layout.table_glob("scores"), hive_partitioning=True)
            .select(
                "task_id",
                "trainee_video",
                "score",
                "num_missing",
                "num_swapped",
                "num_over_time",
                "num_extra",
            )
            .sort("task_id", "trainee_video")
            .collect()
        )
        with pl.Config(tbl_rows=200, tbl_width_chars=120, fmt_str_lengths=40):
            print(scores)
        print(f"PDF reports: {layout.reports}")
    else:
        print("no scores yet")
