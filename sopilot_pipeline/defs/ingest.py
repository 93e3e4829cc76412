"""Per-video assets: registration (probe, hash, content-addressed copy) and clip embeddings.

Built once per role so gold and trainee videos share one implementation but live in
their own partition sets. Registration is cheap (hash, header, first frame); the
embedding step makes the one full decode. A bad file is rejected at whichever step finds
it (``batch.Rejected``): the reason goes to the ``rejected_videos`` table and the
asset's event log, the partition is not materialised, and nothing downstream of that
one video runs.
"""

import time
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Backoff,
    MetadataValue,
    RetryPolicy,
    asset,
)

from sopilot_pipeline import __version__
from sopilot_pipeline.core.base.digest import sha256_file
from sopilot_pipeline.core.embed.base import ClipEmbedder, ClipEmbeddings
from sopilot_pipeline.core.store.embeddings import save_clip_embeddings
from sopilot_pipeline.core.store.layout import DataLayout, read_json, task_id_problem, write_json
from sopilot_pipeline.core.video.decode import (
    SampledFrames,
    VideoDecodeError,
    VideoProbe,
    probe_video,
    sampled_frames,
)
from sopilot_pipeline.core.video.face_mask import FaceDetector
from sopilot_pipeline.core.watch.scan import WatchedFile, scan_watch_folder
from sopilot_pipeline.defs.asset_keys import CLIP_EMBEDDINGS, REJECTED_VIDEOS, VIDEO
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Rejected
from sopilot_pipeline.defs.partitions import PARTITIONS_BY_ROLE
from sopilot_pipeline.defs.raw_copy import (
    delete_original,
    embedding_source,
    keep_raw_copy,
    original_record,
)
from sopilot_pipeline.defs.rejected import rejection_recorder
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.usable_checks import DECODES_CHECK, READABLE_CHECK

IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL)


def watch_files_by_key(layout: DataLayout, role: str) -> dict[str, WatchedFile]:
    return {f.partition_key: f for f in scan_watch_folder(layout.watch) if f.role == role}


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
    registered = registered_video_asset(role)
    return [registered, clip_embeddings_asset(role, registered, pool, embedding_tags)]


def registered_video_asset(role: str) -> AssetsDefinition:
    @asset(
        name=VIDEO[role],
        partitions_def=PARTITIONS_BY_ROLE[role],
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
        batch = PartitionBatch(context, on_rejected=rejection_recorder(context, layout, role))
        batch.run(lambda key: register(layout, role, key, watched.get(key), settings, detector))
        yield from batch.checked_results(READABLE_CHECK)

    return registered_video


def register(
    layout: DataLayout,
    role: str,
    key: str,
    source: WatchedFile | None,
    settings: SopilotSettings,
    detector: FaceDetector | None,
) -> dict[str, Any]:
    """Probe, hash and keep a copy of one watch-folder video; its metadata."""
    if source is None:
        task = _task_from_key(layout, role, key)
        raise Rejected("file no longer in the watch folder", task, key)
    reason = unusable_entry(source)
    if reason is not None:
        raise Rejected(reason, source.task_id, source.file_name)
    started = time.perf_counter()
    sha, probe = _hashed_and_probed(source)
    try:
        raw, masking = keep_raw_copy(layout, source.path, sha, detector)
        original = original_record(source.path, layout)
    except VideoDecodeError as exc:
        raise Rejected(str(exc), source.task_id, source.file_name) from exc
    duplicate_of = _duplicate_of(layout, sha, role, key, source)
    write_json(
        layout.registration(role, key),
        {
            **_registration_record(role, key, source, sha, probe, settings.privacy_mask),
            "raw_path": str(raw.relative_to(layout.root)),
            "duplicate_of": duplicate_of,
            **original,
        },
    )
    layout.table_file(REJECTED_VIDEOS, source.task_id, key).unlink(missing_ok=True)
    return {
        **_probe_metadata(source, sha, probe),
        "probe_seconds": round(time.perf_counter() - started, 3),
        "raw_copy": MetadataValue.path(str(raw)),
        **masking,
        **({"duplicate_of": duplicate_of} if duplicate_of else {}),
    }


def _hashed_and_probed(source: WatchedFile) -> tuple[str, VideoProbe]:
    try:
        return sha256_file(source.path), probe_video(source.path)
    except VideoDecodeError as exc:
        raise Rejected(str(exc), source.task_id, source.file_name) from exc
    except OSError as exc:
        reason = f"cannot read file: {exc.strerror or exc}"
        raise Rejected(reason, source.task_id, source.file_name) from exc


def _registration_record(
    role: str, key: str, source: WatchedFile, sha: str, probe: VideoProbe, privacy_mask: str
) -> dict[str, Any]:
    return {
        "role": role,
        "task_id": source.task_id,
        "file_name": source.file_name,
        "partition_key": key,
        "sha256": sha,
        "fps": probe.fps,
        "frame_count": probe.frame_count,
        "duration_sec": probe.duration_sec,
        "width": probe.width,
        "height": probe.height,
        "rotation": probe.rotation,
        "codec": probe.codec,
        "registered_at": datetime.now(UTC).isoformat(),
        "pipeline_version": __version__,
        "privacy_mask": privacy_mask,
    }


def _probe_metadata(source: WatchedFile, sha: str, probe: VideoProbe) -> dict[str, Any]:
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
    }


def clip_embeddings_asset(
    role: str,
    registered: AssetsDefinition,
    pool: str | None,
    embedding_tags: dict[str, Any] | None,
) -> AssetsDefinition:
    @asset(
        name=CLIP_EMBEDDINGS[role],
        partitions_def=PARTITIONS_BY_ROLE[role],
        group_name=f"{role}_videos",
        deps=[registered],
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
        details = embedder.describe()
        timings = {"decode": 0.0, "embed": 0.0, "video": 0.0}
        batch = PartitionBatch(context, on_rejected=rejection_recorder(context, layout, role))
        batch.run(lambda key: embed(layout, role, key, settings, embedder, details, timings))
        busy = timings["decode"] + timings["embed"]
        summary = {
            **{f"embedder_{k}": v for k, v in details.items()},
            "decode_seconds": round(timings["decode"], 3),
            "embed_seconds": round(timings["embed"], 3),
            "x_realtime": round(timings["video"] / max(busy, 1e-9), 1),
        }
        yield from batch.checked_results(DECODES_CHECK, summary)

    return clip_embeddings


def embed(
    layout: DataLayout,
    role: str,
    key: str,
    settings: SopilotSettings,
    embedder: ClipEmbedder,
    details: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    """Decode and embed one registered video in one stream; its metadata. ``timings``
    add up decode and embed seconds and video length over the step."""
    record = read_json(layout.registration(role, key))
    if not (layout.root / record["raw_path"]).exists():
        reason = "raw copy deleted by the retention policy"
        raise Rejected(reason, record["task_id"], record["file_name"])
    t0 = time.perf_counter()
    size = embedder.frame_size_for(record["width"], record["height"])
    source, source_kind = embedding_source(layout, record)
    # decoded and embedded as one stream: an embedder that can never holds the video
    frames = sampled_frames(source, settings.target_fps, size)
    try:
        emb = embedder.embed_frames(frames, settings.target_fps)
    except VideoDecodeError as exc:
        raise Rejected(str(exc), record["task_id"], record["file_name"]) from exc
    t2 = time.perf_counter()
    t1 = t0 + frames.decode_seconds
    probe = frames.probe
    assert probe is not None
    meta = _embeddings_meta(record, probe, key, settings.target_fps, details)
    save_clip_embeddings(layout, role, key, emb, meta)
    deleted = delete_original(layout, record) if settings.delete_originals else None
    timings["decode"] += t1 - t0
    timings["embed"] += t2 - t1
    timings["video"] += probe.duration_sec
    return {
        **_embedding_metadata(record, emb, probe, frames, (t0, t1, t2)),
        "vectors": MetadataValue.path(str(layout.clip_vectors(role, key))),
        "decoded_from": source_kind,
        **({"original_deleted": deleted} if deleted else {}),
    }


def _embeddings_meta(
    record: dict, probe: VideoProbe, key: str, target_fps: float, details: dict[str, Any]
) -> dict[str, Any]:
    """What is saved beside the vectors: the video, how it decoded, what embedded it."""
    return {
        "task_id": record["task_id"],
        "video": record["file_name"],
        "sha256": record["sha256"],
        "duration_sec": probe.duration_sec,
        "frames_decoded": probe.frame_count,
        "corrupt_packets": probe.decode_errors,
        "target_fps": target_fps,
        "partition_key": key,
        "embedder_details": details,
        "privacy_mask": record.get("privacy_mask", "none"),
    }


def _embedding_metadata(
    record: dict,
    emb: ClipEmbeddings,
    probe: VideoProbe,
    frames: SampledFrames,
    times: tuple[float, float, float],
) -> dict[str, Any]:
    t0, t1, t2 = times
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
    }
