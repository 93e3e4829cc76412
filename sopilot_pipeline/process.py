"""One-shot processing: the watch sensor's and the adapter schedule's work, run to completion.

Runs go through the configured Dagster instance (they show in the UI like any other).
The sensor asks for one run per video; ``process`` batches those requests into runs
over contiguous partition ranges (``MAX_PARTITIONS_PER_RUN`` each), the same shape a
backfill from the UI takes, because Dagster's cost is per run. Each request's run key
is recorded in the instance's key-value store once its partition materialised, and a
run key done before (by ``process`` or by a sensor run) is not run again, so
``process`` is idempotent across invocations.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    RunRequest,
    RunsFilter,
    SensorResult,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
)

from sopilot_pipeline.core.layout import DataLayout, read_json
from sopilot_pipeline.core.store import gold_keys_for_task, scan_table
from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.adapter import adapter_training_due, feature_adapter
from sopilot_pipeline.defs.batch import FAILED_PARTITIONS, MAX_PARTITIONS_PER_RUN
from sopilot_pipeline.defs.ingest import rejected_rows
from sopilot_pipeline.defs.rejections import REJECTED_ASSET, rejected_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.search import clip_index
from sopilot_pipeline.defs.sensors import (
    PARTITIONS_OF_JOB,
    WATCH_SENSOR_NAME,
    gold_job,
    watch_folder_sensor,
)
from sopilot_pipeline.defs.summary import task_summary

PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# without --verbose a failure is said once, in the summary, not as a traceback
SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class ProcessOutcome:
    settings: SopilotSettings
    verbose: bool = False
    succeeded_runs: int = 0
    failed_runs: list[str] = field(default_factory=list)  # one line each: what, where, why
    skipped_run_keys: set[str] = field(default_factory=set)
    failed_keys: set[str] = field(default_factory=set)
    done_keys: set[str] = field(default_factory=set)  # run keys completed in this pass

    @property
    def run_config(self) -> dict:
        return QUIET if self.verbose else SILENT

    def record_failure(
        self, what: str, result: ExecuteInProcessResult, keys: str | None = None
    ) -> None:
        """One line per failure: ``what[partition] step S: Error: reason (run id)``."""
        run = result.run_id[:8]
        lines = [
            f"{what}[{partition or keys}] {why} (run {run})"
            if partition or keys
            else f"{what} {why} (run {run})"
            for partition, why in failure_lines(result)
        ]
        self.failed_runs += lines or [f"{what}: the run failed before any step (run {run})"]


def failure_lines(result: ExecuteInProcessResult) -> list[tuple[str | None, str]]:
    """(partition or None, "step S: Error: reason") for every failure of a run: one per
    failed partition of a batched step, else the innermost error of the step (the
    user's, not Dagster's wrapper), e.g. ``step trainee_score: OSError: ... No space``."""
    lines: list[tuple[str | None, str]] = []
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is None:
            continue
        user = data.user_failure_data
        entry = user.metadata.get(FAILED_PARTITIONS) if user is not None else None
        if entry is not None:
            lines += [(k, f"step {event.step_key}: {why}") for k, why in entry.value.items()]
            continue
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        text = f"{error.cls_name}: {error.message.strip()}" if error else "unknown error"
        lines.append((None, f"step {event.step_key}: {text.splitlines()[0]}"))
    return lines


def _ledger_key(run_key: str) -> str:
    return f"sopilot/process/{hashlib.sha1(run_key.encode()).hexdigest()}"


def already_done(instance: DagsterInstance, run_keys: list[str]) -> set[str]:
    """Run keys done by an earlier batch of ``process`` or by a run the sensor launched."""
    if not run_keys:
        return set()
    by_ledger = {_ledger_key(k): k for k in run_keys}
    done = {by_ledger[k] for k in instance.run_storage.get_cursor_values(set(by_ledger))}
    rest = [k for k in run_keys if k not in done]
    for start in range(0, len(rest), 500):
        records = instance.get_run_records(
            RunsFilter(
                tags={RUN_KEY_TAG: rest[start : start + 500], SENSOR_NAME_TAG: WATCH_SENSOR_NAME},
                statuses=[DagsterRunStatus.SUCCESS],
            )
        )
        done.update(r.dagster_run.tags[RUN_KEY_TAG] for r in records)
    return done


def plan_batches(
    instance: DagsterInstance, requests: list[RunRequest], max_partitions: int
) -> list[list[RunRequest]]:
    """Requests grouped into runs over contiguous partition ranges of one job and selection.

    A run covers a range of keys in the partitions' order, so keys that are not asked for
    split a group; each batch holds at most ``max_partitions`` keys.
    """
    groups: dict[tuple, list[RunRequest]] = {}
    for r in requests:
        selection = tuple(sorted(a.to_user_string() for a in r.asset_selection or []))
        groups.setdefault((r.job_name, selection), []).append(r)
    batches: list[list[RunRequest]] = []
    for (job_name, _), members in groups.items():
        order = {
            k: i for i, k in enumerate(instance.get_dynamic_partitions(PARTITIONS_OF_JOB[job_name]))
        }
        members.sort(key=lambda r: order[r.partition_key])
        current: list[RunRequest] = []
        for r in members:
            contiguous = current and order[r.partition_key] == order[current[-1].partition_key] + 1
            if current and (not contiguous or len(current) >= max_partitions):
                batches.append(current)
                current = []
            current.append(r)
        if current:
            batches.append(current)
    return batches


def _execute(
    defs: Definitions, instance: DagsterInstance, batch: list[RunRequest], outcome: ProcessOutcome
) -> None:
    first, last = batch[0], batch[-1]
    job = defs.resolve_job_def(first.job_name)
    tags = {
        SENSOR_NAME_TAG: WATCH_SENSOR_NAME,
        "sopilot/launched_by": "process",
        "sopilot/videos": str(len(batch)),
    }
    if len(batch) == 1:
        tags.update(first.tags)
        if first.run_key:
            tags[RUN_KEY_TAG] = first.run_key
        partition = {"partition_key": first.partition_key}
    else:
        tags[ASSET_PARTITION_RANGE_START_TAG] = first.partition_key
        tags[ASSET_PARTITION_RANGE_END_TAG] = last.partition_key
        partition = {}
    result = job.execute_in_process(
        instance=instance,
        tags=tags,
        asset_selection=first.asset_selection,
        raise_on_error=False,
        run_config=outcome.run_config,
        **partition,
    )
    # a partition is done when the last asset its request selected materialised it
    final = first.asset_selection[-1] if first.asset_selection else None
    materialized = {
        e.partition
        for e in result.get_asset_materialization_events()
        if final is None or e.asset_key == final
    }
    completed = {r.run_key for r in batch if r.run_key and r.partition_key in materialized}
    if completed:
        instance.run_storage.set_cursor_values({_ledger_key(k): result.run_id for k in completed})
    outcome.done_keys |= completed
    if result.success:
        outcome.succeeded_runs += 1
    else:
        outcome.failed_keys |= {r.run_key for r in batch if r.run_key} - completed
        keys = (
            first.partition_key
            if len(batch) == 1
            else f"{first.partition_key}...{last.partition_key}"
        )
        outcome.record_failure(first.job_name, result, keys)


def _tick(
    defs: Definitions, instance: DagsterInstance, settings: SopilotSettings, cursor: str | None
) -> SensorResult:
    if cursor:
        # process tracks what is done itself (the ledger), and re-runs what a partial
        # batch left over, so it asks the sensor for every outstanding request each tick
        state = json.loads(cursor)
        for entry in state["files"].values():
            entry[3:] = [None]
        cursor = json.dumps(state)
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
    max_partitions: int = MAX_PARTITIONS_PER_RUN,
    verbose: bool = False,
) -> ProcessOutcome:
    # one "materialisation planned" event per asset and range run instead of one per
    # partition: half the event-log writes of a batch (the price, failed partitions not
    # being flagged by Dagster itself, is paid by the record_failed_runs sensor)
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    settings = settings or SopilotSettings.from_env()
    settings.layout.ensure()
    defs = build_definitions(settings)
    instance = instance or DagsterInstance.get()
    outcome = ProcessOutcome(settings, verbose)
    cursor: str | None = None
    quiet_ticks = 0
    for tick in range(max_ticks):
        result = _tick(defs, instance, settings, cursor)
        cursor = result.cursor
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        requests = result.run_requests or []
        done = already_done(instance, [r.run_key for r in requests if r.run_key])
        outcome.skipped_run_keys |= done - outcome.done_keys  # done before this pass
        # a request whose run failed in this pass is not retried by the next tick: run
        # retries (dagster.yaml) and the next `process` are where failures are retried
        runs = [
            r for r in requests if r.run_key not in done and r.run_key not in outcome.failed_keys
        ]
        for batch in sorted(
            plan_batches(instance, runs, max_partitions),
            key=lambda b: b[0].job_name != gold_job.name,
        ):
            _execute(defs, instance, batch, outcome)
        due, why = adapter_training_due(
            settings.layout, settings.embedder.name, settings.training_min_new_videos
        )
        if due:
            print(f"training feature adapter: {why}")
            res = _materialize([feature_adapter], instance, outcome)
            if not res.success:
                outcome.record_failure("feature_adapter", res)
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
    _summarise_rejections(instance, outcome)
    if outcome.succeeded_runs:
        res = _materialize([task_summary, clip_index], instance, outcome)
        if not res.success:
            outcome.record_failure("task_summary and clip_index", res)
    return outcome


def _materialize(
    assets: list, instance: DagsterInstance, outcome: ProcessOutcome
) -> ExecuteInProcessResult:
    """An unpartitioned asset run of ``process``'s own (adapter, summaries, index)."""
    return materialize(
        assets,
        instance=instance,
        resources={"settings": outcome.settings},
        raise_on_error=False,
        tags={"sopilot/launched_by": "process"},
        run_config=outcome.run_config,
    )


def _summarise_rejections(instance: DagsterInstance, outcome: ProcessOutcome) -> None:
    """Materialise ``rejected_videos`` when its row count changed since the last time."""
    rows = len(rejected_rows(outcome.settings.layout))
    last = instance.get_latest_materialization_event(AssetKey(REJECTED_ASSET))
    seen = None
    if last is not None and last.asset_materialization is not None:
        entry = last.asset_materialization.metadata.get("dagster/row_count")
        seen = entry.value if entry is not None else None
    if rows != (seen if seen is not None else 0):
        res = _materialize([rejected_videos], instance, outcome)
        if not res.success:
            outcome.record_failure("rejected_videos", res)


def tasks_waiting_for_gold(layout: DataLayout) -> dict[str, int]:
    """Tasks with embedded trainee videos but no gold video with steps, and how many."""
    waiting: dict[str, int] = {}
    folder = layout.embeddings / "trainee"
    for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        meta = read_json(meta_path)
        task, embedder = meta.get("task_id"), meta.get("embedder", "")
        if task is not None and not gold_keys_for_task(layout, task, embedder):
            waiting[task] = waiting.get(task, 0) + 1
    return waiting


def print_summary(outcome: ProcessOutcome) -> None:
    import polars as pl

    layout = outcome.settings.layout
    print(
        f"runs: {outcome.succeeded_runs} succeeded, {len(outcome.failed_runs)} failures, "
        f"{len(outcome.skipped_run_keys)} already done earlier"
    )
    for failed in outcome.failed_runs:
        print(f"  FAILED {failed}")
    for task, count in tasks_waiting_for_gold(layout).items():
        print(f"waiting for a gold video: task {task!r} ({count} trainee videos not scored)")
    rejected = rejected_rows(layout)
    if rejected:
        print(f"rejected videos ({len(rejected)}):")
        for row in rejected:
            print(f"  {row['task_id']}/{row['role']}/{row['video']}: {row['reason']}")
    scan = scan_table(layout, "scores")
    if scan is not None:
        scores = (
            scan.select(
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
