"""Per-video assets: registration (probe, hash, content-addressed copy) and clip embeddings.

Built once per role so gold and trainee videos share one implementation but live in
their own partition sets. Registration is cheap (hash, header, first frame); the
embedding step makes the one full decode. A bad file is rejected at whichever step finds
it: the reason goes to the ``rejected_videos`` table and the asset's event log, the
partition is not materialised, and nothing downstream of that one video runs.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetsDefinition,
    Backoff,
    MetadataValue,
    RetryPolicy,
    asset,
    asset_check,
)

from sopilot_pipeline import __version__
from sopilot_pipeline.core.base.digest import sha256_file
from sopilot_pipeline.core.store.embeddings import describe_embedder, save_clip_embeddings
from sopilot_pipeline.core.store.layout import DataLayout, read_json, task_id_problem, write_json
from sopilot_pipeline.core.store.tables import REJECTED_SCHEMA, table_rows, write_table
from sopilot_pipeline.core.video.decode import VideoDecodeError, probe_video, sampled_frames
from sopilot_pipeline.core.watch.scan import WatchedFile, scan_watch_folder
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Skip
from sopilot_pipeline.defs.partitions import PARTITIONS_BY_ROLE, rejected_video_partitions
from sopilot_pipeline.defs.raw_copy import (
    delete_original,
    embedding_source,
    keep_raw_copy,
    original_record,
)
from sopilot_pipeline.defs.resources import SopilotSettings

IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL)


def watch_files_by_key(layout: DataLayout, role: str) -> dict[str, WatchedFile]:
    return {f.partition_key: f for f in scan_watch_folder(layout.watch) if f.role == role}


def record_rejection(
    context: AssetExecutionContext,
    layout: DataLayout,
    role: str,
    key: str,
    task_id: str,
    video: str,
    reason: str,
) -> None:
    context.log.warning(f"rejected {role} video {video!r} of task {task_id!r}: {reason}")
    write_table(
        layout.table_file("rejected_videos", task_id, key),
        [
            {
                "task_id": task_id,
                "role": role,
                "video": video,
                "partition_key": key,
                "reason": reason,
                "rejected_at": datetime.now(UTC),
            }
        ],
        REJECTED_SCHEMA,
    )
    details = {"status": "rejected", "reason": reason, "video": video, "task_id": task_id}
    context.log_event(
        AssetObservation(asset_key=AssetKey(f"{role}_video"), partition=key, metadata=details)
    )
    # the video's own page: a partition of rejected_video that says why (its role's
    # partition is removed by the next sensor tick or process pass, defs/work.py)
    context.instance.add_dynamic_partitions(rejected_video_partitions.name, [key])
    context.log_event(
        AssetMaterialization(
            asset_key=AssetKey(REJECTED_VIDEO_ASSET),
            partition=key,
            metadata={"rejected": reason, "task_id": task_id, "role": role, "video": video},
        )
    )
    # rejected_videos is a table of these rows: each rejection materialises it, so the
    # Catalog lists it with its row count under the daemon as under `process`
    rows = len(list((layout.tables / "rejected_videos").glob("*/*.parquet")))
    context.log_event(
        AssetMaterialization(
            asset_key=AssetKey("rejected_videos"),
            metadata={
                **details,
                "role": role,
                "partition_key": key,
                "dagster/row_count": rows,
            },
        )
    )


REJECTED_VIDEO_ASSET = "rejected_video"
READABLE_CHECK = "video_is_readable"
DECODES_CHECK = "video_decodes"


USABLE_CHECK_DESCRIPTION = (
    "Per video: passes when the video got through this step, fails (a warning) with the "
    "reason when it was rejected here; the reasons are also rows of tables/rejected_videos. "
    "The asset evaluates it for every video it handles; run with the asset (the UI's "
    "Materialize), the check also reads the step's output and the rejection table."
)


def build_usable_checks(role: str) -> list[AssetChecksDefinition]:
    """``video_is_readable`` (registration) and ``video_decodes`` (embedding) per partition.

    Dagster wants every check in an asset's ``check_specs`` answered once per step, for a
    range as a whole; a rejection belongs to one video's partition, so the assets log one
    evaluation per partition (``PartitionBatch.checked_results``) for these checks,
    which are defined apart and left out of the pipeline's jobs.
    """
    return [
        _usable_check(
            role, f"{role}_video", READABLE_CHECK, lambda lay, k: lay.registration(role, k)
        ),
        _usable_check(
            role, f"{role}_clip_embeddings", DECODES_CHECK, lambda lay, k: lay.clip_meta(role, k)
        ),
    ]


def _usable_check(
    role: str, asset_name: str, check_name: str, output: Callable[[DataLayout, str], Path]
) -> AssetChecksDefinition:
    """``output(layout, key)``: the file the step writes for a video it did not reject."""

    @asset_check(
        asset=asset_name,
        name=check_name,
        partitions_def=PARTITIONS_BY_ROLE[role],
        description=USABLE_CHECK_DESCRIPTION,
    )
    def usable(context: AssetCheckExecutionContext, settings: SopilotSettings) -> AssetCheckResult:
        layout = settings.layout
        reasons = {r["partition_key"]: r["reason"] for r in rejected_rows(layout)}
        keys = list(context.op_execution_context.partition_keys)
        problems = {
            k: reasons.get(k, "not done yet") for k in keys if not output(layout, k).exists()
        }
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "videos_checked": len(keys),
                **({"rejected": problems[keys[0]]} if len(keys) == 1 and problems else {}),
                "problems": MetadataValue.md(
                    "\n".join(f"- `{k}`: {r}" for k, r in problems.items()) or "none"
                ),
            },
        )

    return usable


def usable_check_keys() -> list[AssetCheckKey]:
    """The checks the pipeline's assets evaluate themselves (left out of its jobs)."""
    return [
        AssetCheckKey(AssetKey(f"{role}{suffix}"), name)
        for role in PARTITIONS_BY_ROLE
        for suffix, name in (("_video", READABLE_CHECK), ("_clip_embeddings", DECODES_CHECK))
    ]


def unusable_entry(source: WatchedFile) -> str | None:
    """Why a watch-folder entry is rejected before it is read, if it is."""
    if source.outside:
        return (
            "symbolic link that leads outside the watch folder, nowhere, or round in a loop "
            "(not read)"
        )
    if source.not_regular:
        return f"not a regular file: {source.not_regular} (not read)"
    return task_id_problem(source.task_id)


def _duplicate_of(
    layout: DataLayout, sha: str, role: str, key: str, source: WatchedFile
) -> str | None:
    """``task/role/file`` of the first video registered with these bytes, unless it is
    this one: a byte-identical copy under another name is scored, and flagged."""
    first = layout.first_registration(sha)
    if not first.exists():
        write_json(
            first,
            {
                "task_id": source.task_id,
                "role": role,
                "file_name": source.file_name,
                "partition_key": key,
            },
        )
    record = read_json(first)
    if record.get("partition_key") == key:
        return None
    return f"{record['task_id']}/{record['role']}/{record['file_name']}"


def _task_from_key(layout: DataLayout, role: str, key: str) -> str:
    """Best effort task id for a key whose file is gone (from an earlier registration)."""
    reg = layout.registration(role, key)
    if reg.exists():
        return read_json(reg)["task_id"]
    return key.split("__", 1)[0]


def build_video_assets(
    role: str, pool: str | None = None, embedding_tags: dict[str, Any] | None = None
) -> list[AssetsDefinition]:
    """``pool``: the concurrency pool of the embedding step (``gpu`` for a GPU model);
    ``embedding_tags``: its op tags (queue and pod routing, ``execution.gpu_step_tags``)."""
    partitions = PARTITIONS_BY_ROLE[role]

    @asset(
        name=f"{role}_video",
        partitions_def=partitions,
        group_name=f"{role}_videos",
        output_required=False,
        retry_policy=IO_RETRY,
        backfill_policy=BATCHED,
        kinds={"video"},
        description=f"A {role} video from the watch folder: header probed and first frame "
        "decoded (fps, duration, size, codec), hashed, and copied content-addressed into "
        "raw/. Unusable files are rejected with a reason.",
    )
    def registered_video(context: AssetExecutionContext, settings: SopilotSettings):
        layout = settings.layout
        watched = watch_files_by_key(layout, role)
        detector = settings.face_detector

        def register(key: str) -> dict[str, Any]:
            source = watched.get(key)
            if source is None:
                task = _task_from_key(layout, role, key)
                reason = "file no longer in the watch folder"
                record_rejection(context, layout, role, key, task, key, reason)
                raise Skip(reason)
            reason = unusable_entry(source)
            if reason is not None:
                record_rejection(
                    context, layout, role, key, source.task_id, source.file_name, reason
                )
                raise Skip(reason)
            started = time.perf_counter()
            try:
                sha = sha256_file(source.path)
                probe = probe_video(source.path)
            except VideoDecodeError as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"cannot read file: {exc.strerror or exc}"
            else:
                reason = None
            if reason is not None:
                record_rejection(
                    context, layout, role, key, source.task_id, source.file_name, reason
                )
                raise Skip(reason)
            try:
                raw, masking = keep_raw_copy(layout, source.path, sha, detector)
                original = original_record(source.path, layout)
            except VideoDecodeError as exc:
                record_rejection(
                    context, layout, role, key, source.task_id, source.file_name, str(exc)
                )
                raise Skip(str(exc)) from exc
            duplicate_of = _duplicate_of(layout, sha, role, key, source)
            write_json(
                layout.registration(role, key),
                {
                    "role": role,
                    "task_id": source.task_id,
                    "file_name": source.file_name,
                    "partition_key": key,
                    "sha256": sha,
                    "raw_path": str(raw.relative_to(layout.root)),
                    "fps": probe.fps,
                    "frame_count": probe.frame_count,
                    "duration_sec": probe.duration_sec,
                    "width": probe.width,
                    "height": probe.height,
                    "rotation": probe.rotation,
                    "codec": probe.codec,
                    "registered_at": datetime.now(UTC).isoformat(),
                    "pipeline_version": __version__,
                    "duplicate_of": duplicate_of,
                    "privacy_mask": settings.privacy_mask,
                    **original,
                },
            )
            layout.table_file("rejected_videos", source.task_id, key).unlink(missing_ok=True)
            return {
                "task_id": source.task_id,
                "video": source.file_name,
                "sha256": sha,
                "fps": probe.fps,
                "header_frames": probe.frame_count,
                "duration_sec": probe.duration_sec,
                "resolution": f"{probe.width}x{probe.height}",
                "rotation_deg": probe.rotation,
                "codec": probe.codec,
                "probe_seconds": round(time.perf_counter() - started, 3),
                "raw_copy": MetadataValue.path(str(raw)),
                **masking,
                **({"duplicate_of": duplicate_of} if duplicate_of else {}),
            }

        batch = PartitionBatch(context)
        batch.run(register)
        yield from batch.checked_results(READABLE_CHECK)

    @asset(
        name=f"{role}_clip_embeddings",
        partitions_def=partitions,
        group_name=f"{role}_videos",
        deps=[registered_video],
        output_required=False,
        retry_policy=IO_RETRY,
        backfill_policy=BATCHED,
        pool=pool,
        op_tags=embedding_tags,
        kinds={"numpy"},
        description="The one full decode of the video: frames actually decoded and corrupt "
        "packets counted, frames sampled at SOPILOT_TARGET_FPS with stream timestamps, "
        "grouped into clips and embedded; raw vectors (.npy) plus clip times (.json).",
    )
    def clip_embeddings(context: AssetExecutionContext, settings: SopilotSettings):
        layout = settings.layout
        embedder = settings.embedder
        embedder_details = describe_embedder(embedder)
        timings = {"decode": 0.0, "embed": 0.0, "video": 0.0}

        def embed(key: str) -> dict[str, Any]:
            record = read_json(layout.registration(role, key))
            raw = layout.root / record["raw_path"]
            if not raw.exists():
                reason = "raw copy deleted by the retention policy"
                record_rejection(
                    context, layout, role, key, record["task_id"], record["file_name"], reason
                )
                raise Skip(reason)
            t0 = time.perf_counter()
            size = embedder.frame_size_for(record["width"], record["height"])
            source, source_kind = embedding_source(layout, record)
            # decoded and embedded as one stream: an embedder that can never holds the video
            frames = sampled_frames(source, settings.target_fps, size)
            try:
                emb = embedder.embed_frames(frames, settings.target_fps)
            except VideoDecodeError as exc:
                record_rejection(
                    context, layout, role, key, record["task_id"], record["file_name"], str(exc)
                )
                raise Skip(str(exc)) from exc
            t2 = time.perf_counter()
            t1 = t0 + frames.decode_seconds
            probe = frames.probe
            assert probe is not None
            save_clip_embeddings(
                layout,
                role,
                key,
                emb,
                {
                    "task_id": record["task_id"],
                    "video": record["file_name"],
                    "sha256": record["sha256"],
                    "duration_sec": probe.duration_sec,
                    "frames_decoded": probe.frame_count,
                    "corrupt_packets": probe.decode_errors,
                    "target_fps": settings.target_fps,
                    "partition_key": key,
                    "embedder_details": embedder_details,
                    "privacy_mask": record.get("privacy_mask", "none"),
                },
            )
            deleted = delete_original(layout, record) if settings.delete_originals else None
            timings["decode"] += t1 - t0
            timings["embed"] += t2 - t1
            timings["video"] += probe.duration_sec
            return {
                "task_id": record["task_id"],
                "embedder": emb.embedder,
                "num_clips": len(emb.vectors),
                "dim": int(emb.vectors.shape[1]),
                "frames_decoded": probe.frame_count,
                "corrupt_packets": probe.decode_errors,
                "duration_sec": probe.duration_sec,
                "frames_sampled": frames.count,
                "decode_seconds": round(t1 - t0, 3),
                "embed_seconds": round(t2 - t1, 3),
                "x_realtime": round(probe.duration_sec / max(t2 - t0, 1e-9), 1),
                "vectors": MetadataValue.path(str(layout.clip_vectors(role, key))),
                "decoded_from": source_kind,
                **({"original_deleted": deleted} if deleted else {}),
            }

        batch = PartitionBatch(context)
        batch.run(embed)
        busy = timings["decode"] + timings["embed"]
        yield from batch.checked_results(
            DECODES_CHECK,
            {
                **{f"embedder_{k}": v for k, v in embedder_details.items()},
                "decode_seconds": round(timings["decode"], 3),
                "embed_seconds": round(timings["embed"], 3),
                "x_realtime": round(timings["video"] / max(busy, 1e-9), 1),
            },
        )

    return [registered_video, clip_embeddings]


def rejected_rows(layout: DataLayout) -> list[dict]:
    return table_rows(layout.tables, "rejected_videos")
