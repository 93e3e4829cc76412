"""Per-video assets: registration (probe, hash, content-addressed copy) and clip embeddings.

Built once per role so gold and trainee videos share one implementation but live in
their own partition sets. A bad file is rejected: the reason goes to the
``rejected_videos`` table and the asset's event log, the step succeeds without
materialising, and everything downstream of that one video is skipped.
"""

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    Backoff,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from sopilot_pipeline import __version__
from sopilot_pipeline.core.atomic import atomic_write_with
from sopilot_pipeline.core.layout import DataLayout, read_json, write_json
from sopilot_pipeline.core.store import save_clip_embeddings
from sopilot_pipeline.core.tables import REJECTED_SCHEMA, read_table, write_table
from sopilot_pipeline.core.video import VideoDecodeError, decode_video
from sopilot_pipeline.core.watch import WatchedFile, scan_watch_folder, sha256_file
from sopilot_pipeline.defs.partitions import PARTITIONS_BY_ROLE
from sopilot_pipeline.defs.resources import SopilotSettings

IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL)


def find_watch_file(layout: DataLayout, role: str, partition_key: str) -> WatchedFile | None:
    for f in scan_watch_folder(layout.watch):
        if f.role == role and f.partition_key == partition_key:
            return f
    return None


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
    context.log_event(
        AssetObservation(
            asset_key=AssetKey(f"{role}_video"),
            partition=key,
            metadata={"status": "rejected", "reason": reason, "video": video, "task_id": task_id},
        )
    )


def _task_from_key(layout: DataLayout, role: str, key: str) -> str:
    """Best effort task id for a key whose file is gone (from an earlier registration)."""
    reg = layout.registration(role, key)
    if reg.exists():
        return read_json(reg)["task_id"]
    return key.split("__", 1)[0]


def build_video_assets(role: str) -> list[AssetsDefinition]:
    partitions = PARTITIONS_BY_ROLE[role]

    @asset(
        name=f"{role}_video",
        partitions_def=partitions,
        group_name=f"{role}_videos",
        output_required=False,
        retry_policy=IO_RETRY,
        kinds={"video"},
        description=f"A {role} video from the watch folder: decoded once to probe it "
        "(fps, frames actually decoded, duration, size, codec), hashed, and copied "
        "content-addressed into raw/. Unusable files are rejected with a reason.",
    )
    def registered_video(context: AssetExecutionContext, settings: SopilotSettings):
        key = context.partition_key
        layout = settings.layout
        source = find_watch_file(layout, role, key)
        if source is None:
            record_rejection(
                context,
                layout,
                role,
                key,
                _task_from_key(layout, role, key),
                key,
                "file no longer in the watch folder",
            )
            return
        started = time.perf_counter()
        try:
            sha = sha256_file(source.path)
            probe = decode_video(source.path).probe
        except VideoDecodeError as exc:
            record_rejection(context, layout, role, key, source.task_id, source.file_name, str(exc))
            return
        except OSError as exc:
            record_rejection(
                context,
                layout,
                role,
                key,
                source.task_id,
                source.file_name,
                f"cannot read file: {exc.strerror or exc}",
            )
            return
        raw = layout.raw_video(sha, source.path.suffix)
        if not raw.exists():
            atomic_write_with(raw, lambda tmp: shutil.copyfile(source.path, tmp))
        record = {
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
            "codec": probe.codec,
            "decode_errors": probe.decode_errors,
            "registered_at": datetime.now(UTC).isoformat(),
            "pipeline_version": __version__,
        }
        write_json(layout.registration(role, key), record)
        layout.table_file("rejected_videos", source.task_id, key).unlink(missing_ok=True)
        yield MaterializeResult(
            metadata={
                "task_id": source.task_id,
                "video": source.file_name,
                "sha256": sha,
                "fps": probe.fps,
                "frames_decoded": probe.frame_count,
                "duration_sec": probe.duration_sec,
                "resolution": f"{probe.width}x{probe.height}",
                "codec": probe.codec,
                "corrupt_packets": probe.decode_errors,
                "probe_seconds": round(time.perf_counter() - started, 3),
                "raw_copy": MetadataValue.path(str(raw)),
            },
        )

    @asset(
        name=f"{role}_clip_embeddings",
        partitions_def=partitions,
        group_name=f"{role}_videos",
        deps=[registered_video],
        retry_policy=IO_RETRY,
        kinds={"numpy"},
        description="Frames sampled at SOPILOT_TARGET_FPS with stream timestamps, grouped "
        "into clips and embedded; raw vectors (.npy) plus clip times (.json).",
    )
    def clip_embeddings(
        context: AssetExecutionContext, settings: SopilotSettings
    ) -> MaterializeResult:
        key = context.partition_key
        layout = settings.layout
        record = read_json(layout.registration(role, key))
        embedder = settings.embedder
        t0 = time.perf_counter()
        sampled = decode_video(
            layout.root / record["raw_path"], settings.target_fps, embedder.frame_size
        )
        t1 = time.perf_counter()
        emb = embedder.embed(sampled.frames, sampled.times, settings.target_fps)
        t2 = time.perf_counter()
        save_clip_embeddings(
            layout,
            role,
            key,
            emb,
            {
                "task_id": record["task_id"],
                "video": record["file_name"],
                "sha256": record["sha256"],
                "duration_sec": record["duration_sec"],
                "target_fps": settings.target_fps,
                "partition_key": key,
            },
        )
        realtime = record["duration_sec"] / max(t2 - t0, 1e-9)
        return MaterializeResult(
            metadata={
                "task_id": record["task_id"],
                "embedder": emb.embedder,
                "num_clips": len(emb.vectors),
                "dim": int(emb.vectors.shape[1]),
                "frames_sampled": len(sampled.frames),
                "decode_seconds": round(t1 - t0, 3),
                "embed_seconds": round(t2 - t1, 3),
                "x_realtime": round(realtime, 1),
                "vectors": MetadataValue.path(str(layout.clip_vectors(role, key))),
            }
        )

    return [registered_video, clip_embeddings]


def rejected_rows(layout: DataLayout) -> list[dict]:
    folder = layout.tables / "rejected_videos"
    rows: list[dict] = []
    for path in sorted(folder.glob("*/*.parquet")) if folder.is_dir() else []:
        rows.extend(read_table(Path(path)).to_pylist())
    return rows
