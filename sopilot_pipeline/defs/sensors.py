"""The watch-folder sensor: new files become dynamic partitions, and what is not done runs.

What is done is decided from the data (``defs/work.py``), so the sensor launches nothing
for videos ``process``, a UI materialisation or a backfill already finished, and redoes
a video whose content came back or whose outputs were deleted. Needs are batched into
range runs of up to ``MAX_PARTITIONS_PER_RUN`` partitions per job and selection, as
``process`` runs them. Trainees wait for their task's gold, so each is ingested and
scored in one run, and for the first feature adapter, which the sensor asks for as soon
as a gold is done (later ones come from the nightly schedule). Errors on one file are
logged and never fail the tick.
"""

import hashlib
import json

from dagster import (
    AddDynamicPartitionsRequest,
    AssetSelection,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from sopilot_pipeline.core.watch.scan import WatchEntry, advance_watch_state, scan_watch_folder
from sopilot_pipeline.defs.adapter import adapter_job
from sopilot_pipeline.defs.batch import MAX_PARTITIONS_PER_RUN
from sopilot_pipeline.defs.orphans import fail_orphaned_runs
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.usable_checks import usable_check_keys
from sopilot_pipeline.defs.work import (
    GOLD_CHAIN,
    GOLD_JOB,
    REASON_TAG,
    TRAINEE_CHAIN,
    TRAINEE_JOB,
    Need,
    batch_needs,
    partition_order,
    plan_work,
    run_request,
)

# the per-video usable checks are evaluated by the assets themselves (defs/ingest.py)
gold_job = define_asset_job(
    name=GOLD_JOB,
    selection=AssetSelection.assets(*GOLD_CHAIN) - AssetSelection.checks(*usable_check_keys()),
    description="Register, embed and segment gold videos.",
)
trainee_job = define_asset_job(
    name=TRAINEE_JOB,
    selection=AssetSelection.assets(*TRAINEE_CHAIN) - AssetSelection.checks(*usable_check_keys()),
    description="Register, embed, align and score trainee videos.",
)

WATCH_SENSOR_NAME = "watch_folder_sensor"


@sensor(
    name=WATCH_SENSOR_NAME,
    jobs=[gold_job, trainee_job, adapter_job],
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches `SOPILOT_DATA_DIR/watch/<task_id>/{gold,trainee}/` for videos whose "
    "size and mtime are stable across two ticks.",
)
def watch_folder_sensor(context: SensorEvaluationContext, settings: SopilotSettings):
    cursor = json.loads(context.cursor) if context.cursor else {}
    for line in fail_orphaned_runs(context.instance):
        context.log.warning(line)
    files = list(scan_watch_folder(settings.layout.watch))
    state, ready, settling = advance_watch_state(
        entries_from_cursor(cursor.get("files", {})), files, settings.sensor_hash_seconds
    )
    if settling:
        context.log.info(f"{len(settling)} file(s) still settling, e.g. {settling[0].rel!r}")
    plan = plan_work(context.instance, settings, ready)
    for rel, why in plan.errors.items():
        context.log.error(f"cannot plan {rel!r}: {why}; trying again next tick")
    waiting = dict(sorted(plan.waiting.items()))
    if waiting != cursor.get("waiting"):
        for task, n in waiting.items():
            context.log.info(f"waiting for a gold video: task {task!r} ({n} trainee videos)")
    needs = _not_asked_yet(context, state, plan.needs, settings.sensor_max_requests)
    batches = batch_needs(needs, partition_order(plan), MAX_PARTITIONS_PER_RUN)
    runs = [run_request(b) for b in batches]
    if plan.first_adapter:
        digest = hashlib.sha1("\n".join(plan.first_adapter).encode()).hexdigest()[:16]
        runs.append(
            RunRequest(
                run_key=f"first-adapter:{settings.embedder.name}:{digest}",
                job_name=adapter_job.name,
                tags={REASON_TAG: f"first adapter: {len(plan.first_adapter)} golds"},
            )
        )
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[
            *(DeleteDynamicPartitionsRequest(n, k) for n, k in plan.removed_partitions.items()),
            *(AddDynamicPartitionsRequest(n, k) for n, k in plan.new_partitions.items()),
        ],
        cursor=json.dumps({"files": entries_to_cursor(state), "waiting": waiting}),
    )


def entries_from_cursor(files: dict[str, list]) -> dict[str, WatchEntry]:
    """The cursor keeps each file as ``[size, mtime_ns, sha256, asked]`` (short JSON)."""
    return {rel: WatchEntry(*values[:4]) for rel, values in files.items()}


def entries_to_cursor(state: dict[str, WatchEntry]) -> dict[str, list]:
    return {rel: [e.size, e.mtime_ns, e.sha256, e.asked] for rel, e in state.items()}


def _not_asked_yet(
    context: SensorEvaluationContext, state: dict[str, WatchEntry], needs: list[Need], limit: int
) -> list[Need]:
    """Needs not asked for on an earlier tick, at most ``limit``; marks them in ``state``.

    A need asked for stays asked until its partition is materialised again (the run may
    still be queued, or failed: run retries are the daemon's second try, ``process`` the
    third). One that a run for its very version left at another version is not asked
    again, so a video whose inputs change under it can never loop.
    """
    fresh: list[Need] = []
    for need in needs:
        entry = state[need.ready.file.rel]
        if entry.asked == need.mark:
            continue
        asked_version, _, asked_after = (entry.asked or "").rpartition("@")
        if (
            asked_version == need.version
            and need.latest_version != need.version
            and asked_after != str(need.latest_id)
        ):
            context.log.warning(
                f"{need.ready.file.rel!r} was processed but recorded version "
                f"{need.latest_version!r}, not {need.version!r}; not asked again"
            )
            entry.asked = need.mark
            continue
        if len(fresh) >= limit:
            break
        entry.asked = need.mark
        fresh.append(need)
    return fresh
