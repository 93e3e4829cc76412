"""The raw copy a registration keeps, the frames embeddings are made from, and the
original's removal (``SOPILOT_DELETE_ORIGINALS``).

With ``SOPILOT_PRIVACY_MASK`` on, the raw copy is the video with faces masked (every clip,
keyframe and report image is cut from it), named ``<sha256>.<mode>.mp4``; an unmasked copy
of the same content from before masking was turned on is removed. Embeddings are made
from the original while it is in the watch folder unchanged: a vector holds no picture,
and the same frames give the same score whether masking is on or off.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.core.video.face_mask import FaceDetector
from sopilot_pipeline.core.video.masked_copy import write_masked_copy


def keep_raw_copy(
    layout: DataLayout, source: Path, sha256: str, detector: FaceDetector | None
) -> tuple[Path, dict[str, Any]]:
    """The raw copy (written unless one of this content is there) and masking metadata."""
    plain = layout.raw_video(sha256, source.suffix)
    if detector is None:
        if not plain.exists():
            atomic_write_with(plain, lambda tmp: shutil.copyfile(source, tmp))
        return plain, {}
    masked = layout.raw_video(sha256, f".{detector.config.mode}.mp4")
    info: dict[str, Any] = {"privacy_mask": detector.config.mode}
    if not masked.exists():
        stats = write_masked_copy(source, masked, detector)
        info |= {
            "frames_masked": stats.frames_masked,
            "frames": stats.frames,
            "face_detections": stats.faces_found,
            "mask_seconds": round(stats.detect_seconds + stats.mask_seconds, 3),
        }
    plain.unlink(missing_ok=True)  # kept before masking was turned on
    return masked, info


def original_record(source: Path, layout: DataLayout) -> dict[str, Any]:
    """What a registration notes of the watch-folder file, to know it later unchanged."""
    stat = source.stat()
    return {
        "original_path": str(source.relative_to(layout.root))
        if source.is_relative_to(layout.root)
        else str(source),
        "original_size": stat.st_size,
        "original_mtime_ns": stat.st_mtime_ns,
    }


def unchanged_original(layout: DataLayout, record: dict) -> Path | None:
    """The registered watch-folder file if it is still there as registered."""
    if "original_path" not in record:
        return None
    path = layout.root / record["original_path"]
    try:
        stat = path.stat()
    except OSError:
        return None
    if (stat.st_size, stat.st_mtime_ns) != (record["original_size"], record["original_mtime_ns"]):
        return None
    return path


def embedding_source(layout: DataLayout, record: dict) -> tuple[Path, str]:
    """(file to decode, which one): the original when the raw copy is masked and the
    original is there unchanged, else the raw copy."""
    raw = layout.root / record["raw_path"]
    if record.get("privacy_mask", "none") != "none":
        original = unchanged_original(layout, record)
        if original is not None:
            return original, "original (unmasked; only vectors are kept)"
        return raw, "masked raw copy (the original is gone or changed)"
    return raw, "raw copy"


def delete_original(layout: DataLayout, record: dict) -> str | None:
    """Removes the watch-folder file once its raw copy and embeddings are kept; the path
    removed, None when it was gone or changed (a changed file is a new video)."""
    original = unchanged_original(layout, record)
    if original is None or not (layout.root / record["raw_path"]).exists():
        return None
    original.unlink(missing_ok=True)
    return str(original)
