"""One-shot processing: the watch sensor's and the adapter schedule's work, run to completion.

Runs go through the configured Dagster instance (they show in the UI like any other).
``process`` asks the same question the sensor asks (``defs/work.py``: what does each
ready video still need, judged from the data) and runs the same batched range runs, in
this process, until nothing is left. So it leaves the instance as the daemon would, and
either can follow the other without redoing work.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    materialize,
)

from sopilot_pipeline.core.store.embeddings import scan_table
from sopilot_pipeline.core.store.provenance import gold_versions_by_task
from sopilot_pipeline.core.watch.scan import WatchEntry, advance_watch_state, scan_watch_folder
from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.adapter import adapter_training_due, feature_adapter
from sopilot_pipeline.defs.asset_keys import FEATURE_ADAPTER, REJECTED_VIDEOS
from sopilot_pipeline.defs.batch import FAILED_PARTITIONS, MAX_PARTITIONS_PER_RUN
from sopilot_pipeline.defs.orphans import fail_orphaned_runs, process_run_tags
from sopilot_pipeline.defs.rejected import rejected_rows
from sopilot_pipeline.defs.rejections import rejected_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.search import clip_index
from sopilot_pipeline.defs.summary import task_summary
from sopilot_pipeline.defs.work import (
    FINAL_ASSET,
    Need,
    batch_needs,
    partition_order,
    plan_work,
    run_request,
)
from sopilot_pipeline.progress import PassProgress

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
    failed_keys: set[str] = field(default_factory=set)  # not retried in this pass
    completed: set[str] = field(default_factory=set)  # partitions finished in this pass
    found_done: set[str] = field(default_factory=set)  # partitions seen done by a plan
    waiting: dict[str, int] = field(default_factory=dict)  # task -> trainees without a gold

    @property
    def already_done(self) -> int:
        """Videos done before this pass (by an earlier ``process``, the daemon, the UI)."""
        return len(self.found_done - self.completed)

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


def _execute(
    defs: Definitions, instance: DagsterInstance, batch: list[Need], outcome: ProcessOutcome
) -> None:
    """One batch as the daemon would run it (same request, no run key), in this process."""
    request = run_request(batch, keyed=False)
    job = defs.resolve_job_def(request.job_name).get_subset(
        asset_selection=set(request.asset_selection),
        asset_check_selection=set(request.asset_check_keys),
    )
    result = job.execute_in_process(
        instance=instance,
        tags={**request.tags, **process_run_tags()},
        partition_key=request.partition_key,
        raise_on_error=False,
        run_config=outcome.run_config,
    )
    final = AssetKey(FINAL_ASSET[batch[0].ready.file.role])
    completed = {
        e.partition for e in result.get_asset_materialization_events() if e.asset_key == final
    }
    outcome.completed |= completed
    if result.success:
        # partitions a rejection in the range held back run on the next tick
        outcome.succeeded_runs += 1
        return
    # a failed partition is retried by the next pass, not by this one
    named = {partition for partition, _ in failure_lines(result) if partition}
    outcome.failed_keys |= (named or {n.key for n in batch}) - completed
    keys = batch[0].key if len(batch) == 1 else f"{batch[0].key}...{batch[-1].key}"
    outcome.record_failure(request.job_name, result, keys)


def process_watch_folder(
    settle_seconds: float = 1.0,
    max_ticks: int = 50,
    settings: SopilotSettings | None = None,
    instance: DagsterInstance | None = None,
    max_partitions: int = MAX_PARTITIONS_PER_RUN,
    verbose: bool = False,
    progress: PassProgress | None = None,
) -> ProcessOutcome:
    # one "materialisation planned" event per asset and range run instead of one per
    # partition: half the event-log writes of a batch (the price, failed partitions not
    # being flagged by Dagster itself, is paid by the record_failed_runs sensor)
    os.environ.setdefault(PLANNED_EVENTS_ENV, "true")
    settings = settings or SopilotSettings.from_env()
    layout = settings.layout
    layout.ensure()
    defs = build_definitions(settings)
    instance = instance or DagsterInstance.get()
    outcome = ProcessOutcome(settings, verbose)
    for line in fail_orphaned_runs(instance):
        print(line)
    state: dict[str, WatchEntry] = {}
    quiet_ticks = 0
    trained = False
    for tick in range(max_ticks):
        state, ready, settling = advance_watch_state(state, list(scan_watch_folder(layout.watch)))
        plan = plan_work(instance, settings, ready)
        for name, keys in plan.removed_partitions.items():
            for key in keys:
                instance.delete_dynamic_partition(name, key)
        for name, keys in plan.new_partitions.items():
            instance.add_dynamic_partitions(name, keys)
        outcome.found_done |= {r.file.partition_key for r in plan.done}
        outcome.waiting = plan.waiting
        for rel, why in plan.errors.items():
            line = f"cannot plan {rel}: {why}"
            if line not in outcome.failed_runs:
                outcome.failed_runs.append(line)
        needs = [n for n in plan.needs if n.key not in outcome.failed_keys]
        if progress is not None:
            progress.planned(len(needs) + sum(plan.waiting.values()))
        for batch in batch_needs(needs, partition_order(plan), max_partitions):
            _execute(defs, instance, batch, outcome)
            if progress is not None:
                progress.ran(len(batch), batch[0].ready.file.task_id)
        due, why = adapter_training_due(
            layout, settings.embedder.name, settings.training_min_new_videos
        )
        # the first adapter once a gold is done (as the sensor asks for it), later ones
        # as the nightly schedule would; once a pass: a failed training is said, not looped
        first_due = layout.latest_adapter(settings.embedder.name) is None
        if first_due and not gold_versions_by_task(layout, settings.embedder.name):
            due = False
        if due and not trained:
            trained = True
            print(f"training feature adapter: {why}")
            res = _materialize([feature_adapter], instance, outcome)
            if not res.success:
                outcome.record_failure(FEATURE_ADAPTER, res)
            continue
        if needs:
            quiet_ticks = 0
            continue
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
        tags=process_run_tags(),
        run_config=outcome.run_config,
    )


def _summarise_rejections(instance: DagsterInstance, outcome: ProcessOutcome) -> None:
    """Materialise the ``rejected_videos`` summary unless the latest one counts the rows
    there are (each rejection materialises the asset too, with the count but no summary)."""
    rows = len(rejected_rows(outcome.settings.layout))
    last = instance.get_latest_materialization_event(AssetKey(REJECTED_VIDEOS))
    metadata = last.asset_materialization.metadata if last and last.asset_materialization else {}
    entry = metadata.get("dagster/row_count")
    summarised = "by_reason" in metadata and entry is not None and entry.value == rows
    if (rows or last is not None) and not summarised:
        res = _materialize([rejected_videos], instance, outcome)
        if not res.success:
            outcome.record_failure(REJECTED_VIDEOS, res)


def print_summary(outcome: ProcessOutcome) -> None:
    import polars as pl

    layout = outcome.settings.layout
    print(
        f"runs: {outcome.succeeded_runs} succeeded, {len(outcome.failed_runs)} failures; "
        f"{outcome.already_done} videos already done earlier"
    )
    for failed in outcome.failed_runs:
        print(f"  FAILED {failed}")
    for task, count in sorted(outcome.waiting.items()):
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
