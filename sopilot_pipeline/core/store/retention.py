"""Data retention: raw video copies older than N days are deleted; everything derived
from them (embeddings, steps, scores, deviations, reports) and the audit log are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sopilot_pipeline.core.store.layout import DataLayout


@dataclass(frozen=True)
class RetentionResult:
    deleted: tuple[str, ...]  # raw file names (content hashes)
    bytes_freed: int
    kept: int


def expired_raw_videos(layout: DataLayout, days: int, now: datetime) -> list[Path]:
    """Raw copies whose last modification is more than ``days`` days before ``now``."""
    if days <= 0 or not layout.raw.is_dir():
        return []
    cutoff = (now - timedelta(days=days)).timestamp()
    return sorted(p for p in layout.raw.rglob("*") if p.is_file() and p.stat().st_mtime < cutoff)


def apply_retention(layout: DataLayout, days: int, now: datetime) -> RetentionResult:
    expired = expired_raw_videos(layout, days, now)
    freed = 0
    for path in expired:
        freed += path.stat().st_size
        path.unlink(missing_ok=True)
    kept = sum(1 for p in layout.raw.rglob("*") if p.is_file()) if layout.raw.is_dir() else 0
    return RetentionResult(tuple(p.name for p in expired), freed, kept)
