"""The watch-folder sensor: new files become dynamic partitions and runs.

Run keys carry content hashes, so a run is requested once per content: a re-dropped
identical file does nothing, a changed file is processed again. Trainee videos are
scored once their task has a gold video with detected steps; the key also names the
task's golds and the adapter version, so a new gold or adapter re-scores the task's
trainees. While a task's first gold is on its way its trainees wait, so each is
ingested and scored in one run rather than two. Errors on one file are logged and
never fail the tick.
"""

import hashlib
import json

from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from sopilot_pipeline.core.authored_steps import sidecar_digest
from sopilot_pipeline.core.layout import DataLayout, read_json
from sopilot_pipeline.core.watch import ReadyFile, advance_watch_state, scan_watch_folder
from sopilot_pipeline.defs.partitions import gold_videos, trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings

GOLD_CHAIN = ["gold_video", "gold_clip_embeddings", "gold_steps"]
TRAINEE_INGEST = ["trainee_video", "trainee_clip_embeddings"]
TRAINEE_SCORING = ["trainee_alignment", "trainee_score"]

gold_job = define_asset_job(
    "ingest_gold_video",
    selection=GOLD_CHAIN,
    description="Register, embed and segment one gold video.",
)
trainee_job = define_asset_job(
    "score_trainee_video",
    selection=TRAINEE_INGEST + TRAINEE_SCORING,
    description="Register, embed, align and score one trainee video.",
)

WATCH_SENSOR_NAME = "watch_folder_sensor"
PARTITIONS_OF_JOB = {gold_job.name: gold_videos.name, trainee_job.name: trainee_videos.name}


def _trainee_run(
    job_name: str, key: str, run_key: str, assets: list[str], tags: dict[str, str]
) -> RunRequest:
    return RunRequest(
        run_key=run_key,
        job_name=job_name,
        partition_key=key,
        asset_selection=[AssetKey(a) for a in assets],
        tags=tags,
    )


def _digest(parts: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(parts)).encode()).hexdigest()[:12]


def _gold_content(r: ReadyFile, sidecar: str, sha_chars: int = 64) -> str:
    """The video's hash, plus its authored steps' hash (``sidecar_digest``) when it has
    them: a changed sidecar redoes the gold's steps and re-scores the task's trainees."""
    sha = r.sha256[:sha_chars]
    return sha if sidecar == "none" else f"{sha}+steps{sidecar}"


def _rejected(layout: DataLayout, r: ReadyFile) -> bool:
    """Rejected already; a changed file (newer mtime) is tried again."""
    rejection = layout.table_file("rejected_videos", r.file.task_id, r.file.partition_key)
    return rejection.exists() and rejection.stat().st_mtime_ns > r.file.mtime_ns


def plan_run_requests(
    context: SensorEvaluationContext, settings: SopilotSettings, ready: list[ReadyFile]
) -> tuple[list[RunRequest], list[AddDynamicPartitionsRequest]]:
    instance = context.instance
    layout = settings.layout
    partition_requests = []
    for role, pdef in (("gold", gold_videos), ("trainee", trainee_videos)):
        known = set(instance.get_dynamic_partitions(pdef.name))
        new = sorted({r.file.partition_key for r in ready if r.file.role == role} - known)
        if new:
            partition_requests.append(pdef.build_add_request(new))

    golds_done = instance.get_materialized_partitions(AssetKey("gold_steps"))
    embedded = instance.get_materialized_partitions(AssetKey("trainee_clip_embeddings"))
    adapter = layout.latest_adapter(settings.embedder.name)
    adapter_version = adapter.stem if adapter else "none"
    task_golds: dict[str, list[str]] = {}
    golds_pending: set[str] = set()  # tasks with a gold on its way: wait, then score at once
    sidecars = {r.file.rel: sidecar_digest(r.file.path) for r in ready if r.file.role == "gold"}
    for r in ready:
        if r.file.role != "gold":
            continue
        if r.file.partition_key in golds_done:
            task_golds.setdefault(r.file.task_id, []).append(
                f"{r.file.partition_key}:{_gold_content(r, sidecars[r.file.rel])}"
            )
        elif not _rejected(layout, r):
            golds_pending.add(r.file.task_id)

    runs: list[RunRequest] = []
    for r in ready:
        try:
            run = _plan_one(
                r, layout, embedded, task_golds, golds_pending, adapter_version, sidecars
            )
        except Exception as exc:  # noqa: BLE001 - one bad file must never fail the tick
            context.log.exception(f"cannot plan {r.file.rel!r}: {exc}; trying again next tick")
            continue
        if run is not None:
            runs.append(run)
    return runs, partition_requests


def _plan_one(
    r: ReadyFile,
    layout: DataLayout,
    embedded: set[str],
    task_golds: dict[str, list[str]],
    golds_pending: set[str],
    adapter_version: str,
    sidecars: dict[str, str],
) -> RunRequest | None:
    """The run this file needs now, if any (``sidecars``: gold rel path -> digest)."""
    key = r.file.partition_key
    tags = {"sopilot/task_id": r.file.task_id[:200], "sopilot/video": r.file.file_name[:200]}
    if r.file.role == "gold":
        return RunRequest(
            run_key=f"gold:{key}:{_gold_content(r, sidecars[r.file.rel], 16)}",
            job_name=gold_job.name,
            partition_key=key,
            tags=tags,
        )
    if _rejected(layout, r):
        return None
    golds = task_golds.get(r.file.task_id)
    registered = layout.registration("trainee", key)
    ingested = (
        key in embedded
        and registered.exists()
        and (read_json(registered).get("sha256") == r.sha256)
    )
    if not golds:
        if ingested or r.file.task_id in golds_pending:
            return None
        run_key = f"trainee-ingest:{key}:{r.sha256[:16]}"
        return _trainee_run(trainee_job.name, key, run_key, TRAINEE_INGEST, tags)
    selection = TRAINEE_SCORING if ingested else TRAINEE_INGEST + TRAINEE_SCORING
    run_key = f"trainee:{key}:{r.sha256[:16]}:{_digest(golds + [adapter_version])}"
    return _trainee_run(trainee_job.name, key, run_key, selection, tags)


@sensor(
    name=WATCH_SENSOR_NAME,
    jobs=[gold_job, trainee_job],
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches SOPILOT_DATA_DIR/watch/<task_id>/{gold,trainee}/ for videos whose "
    "size and mtime are stable across two ticks.",
)
def watch_folder_sensor(context: SensorEvaluationContext, settings: SopilotSettings):
    cursor = json.loads(context.cursor) if context.cursor else {}
    files = list(scan_watch_folder(settings.layout.watch))
    state, ready, settling = advance_watch_state(
        cursor.get("files", {}), files, settings.sensor_hash_seconds
    )
    if settling:
        context.log.info(f"{len(settling)} file(s) still settling, e.g. {settling[0].rel!r}")
    runs, partition_requests = plan_run_requests(context, settings, ready)
    runs = _new_requests(state, ready, runs, settings.sensor_max_requests)
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=partition_requests,
        cursor=json.dumps({"files": state}),
    )


def _new_requests(
    state: dict[str, list], ready: list[ReadyFile], runs: list[RunRequest], limit: int
) -> list[RunRequest]:
    """Requests not made on an earlier tick, at most ``limit``; marks them in ``state``.

    The daemon would dedupe repeated run keys anyway, but re-sending thousands every
    tick costs it a lookup each. The rest of a large drop goes out on the next ticks.
    """
    rel_of = {(_job_of(r.file.role), r.file.partition_key): r.file.rel for r in ready}
    fresh = []
    for run in runs:
        rel = rel_of[(run.job_name, run.partition_key)]
        if state[rel][3] == run.run_key:
            continue
        if len(fresh) >= limit:
            break
        state[rel][3] = run.run_key
        fresh.append(run)
    return fresh


def _job_of(role: str) -> str:
    return gold_job.name if role == "gold" else trainee_job.name
