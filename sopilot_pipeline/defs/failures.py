"""The run-failure sensor: every failed run leaves one row per partition it covered in
``tables/failed_runs/<run_id>.parquet``, so an operator (or a query) sees which videos
need attention without reading run logs. Rejections are not failures: a bad file is
rejected inside a successful run (``rejected_videos``)."""

from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)

from sopilot_pipeline.core.store.tables import FAILED_RUNS_SCHEMA, write_table
from sopilot_pipeline.defs.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.work import PARTITIONS_OF_JOB


def failed_partitions(context: RunFailureSensorContext) -> list[str]:
    """The partitions a failed run covered: its key, or every key of its range."""
    tags = context.dagster_run.tags
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    partitions = PARTITIONS_OF_JOB.get(context.dagster_run.job_name)
    if start and end and partitions:
        keys = context.instance.get_dynamic_partitions(partitions)
        if start in keys and end in keys:
            return keys[keys.index(start) : keys.index(end) + 1]
    return [""]  # an unpartitioned run (adapter training)


@run_failure_sensor(
    name="record_failed_runs",
    default_status=DefaultSensorStatus.RUNNING,
    description="Writes each failed run's partitions, failed steps and error to "
    "tables/failed_runs.",
)
def record_failed_runs(context: RunFailureSensorContext, settings: SopilotSettings) -> None:
    run = context.dagster_run
    steps = ", ".join(sorted({e.step_key for e in context.get_step_failure_events() if e.step_key}))
    error = context.failure_event.message or ""
    failed_at = datetime.now(UTC)
    rows = [
        {
            "run_id": run.run_id,
            "job": run.job_name,
            "partition_key": key,
            "failed_steps": steps,
            "error": error[:2000],
            "failed_at": failed_at,
        }
        for key in failed_partitions(context)
    ]
    path = settings.layout.tables / "failed_runs" / f"{run.run_id}.parquet"
    write_table(path, rows, FAILED_RUNS_SCHEMA)
    context.log.info(f"run {run.run_id} of {run.job_name} failed: {len(rows)} partition(s)")
