"""What a finished video is made of: the data versions that say a video is done.

A gold is done when its steps were made from this video content, with this embedder
and this steps sidecar; a trainee when its score was computed from this content, with
the task's golds as they are now and this adapter. The asset that finishes a chain
(``gold_steps``, ``trainee_score``) records the version it computed from what it read;
the watch sensor and ``process`` compute the version they want from the watch folder and
the data root, and a video whose recorded version matches, with its outputs present, is
not run again, whichever path (daemon, UI, backfill, ``process``) did the work.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sopilot_pipeline.core.store.layout import DataLayout, read_json

NO_ADAPTER = "task-golds"  # the version of the per-task fallback adapter (store.py)


def _masked(privacy_mask: str) -> str:
    """The version's masking part: none when off, so that versions recorded before
    masking existed still match."""
    return "" if privacy_mask == "none" else f".mask-{privacy_mask}"


def gold_version(
    video_sha256: str, embedder: str, sidecar_digest: str, privacy_mask: str = "none"
) -> str:
    """``sidecar_digest``: of the steps sidecar, ``"none"`` without one; ``privacy_mask``:
    how the raw copy its keyframes come from is masked."""
    return f"{video_sha256[:16]}.{embedder}.steps-{sidecar_digest}{_masked(privacy_mask)}"


def trainee_version(
    video_sha256: str,
    embedder: str,
    golds: dict[str, str],
    adapter_version: str,
    privacy_mask: str = "none",
) -> str:
    """``golds``: gold key -> :func:`gold_version` of every gold the task has now."""
    parts = [f"{k}={v}" for k, v in sorted(golds.items())]
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]
    return (
        f"{video_sha256[:16]}.{embedder}.golds-{digest}.adapter-{adapter_version}"
        f"{_masked(privacy_mask)}"
    )


_VERSION = {
    "gold": re.compile(
        r"^(?P<sha>[^.]+)\.(?P<embedder>.+)\.steps-(?P<sidecar>[^.]*)(\.mask-(?P<mask>\w+))?$"
    ),
    "trainee": re.compile(
        r"^(?P<sha>[^.]+)\.(?P<embedder>.+)\.golds-(?P<golds>[0-9a-f]+)\.adapter-(?P<adapter>.*?)"
        r"(\.mask-(?P<mask>\w+))?$"
    ),
}
_CHANGES = {  # version part -> what changed, in the order they are reported
    "sha": "changed file",
    "embedder": "new embedder",
    "sidecar": "changed steps sidecar",
    "golds": "new or changed gold",
    "adapter": "new adapter",
    "mask": "privacy masking changed",
}


def redo_reason(role: str, wanted: str, recorded: str | None, outputs_present: bool) -> str:
    """Why a video is (re)done, in words, from the version wanted and the one recorded:
    what a run's tags and the score's metadata say."""
    if recorded is None:
        return "new video"
    if wanted == recorded:
        return "asked for" if outputs_present else "outputs missing"
    new, old = _VERSION[role].match(wanted), _VERSION[role].match(recorded)
    if new is None or old is None:
        return "recorded by an earlier pipeline version"
    for part, words in _CHANGES.items():
        if part in new.groupdict() and new[part] != old[part]:
            if part in ("sha", "embedder"):
                return words
            return ", ".join(
                w for p, w in _CHANGES.items() if p in new.groupdict() and new[p] != old[p]
            )
    return "asked for"


def adapter_version(adapter_file: Path | None) -> str:
    """The version a trainee is aligned in: the newest trained adapter, else the fallback."""
    if adapter_file is None:
        return NO_ADAPTER
    return adapter_file.stem.removeprefix("feature_adapter_")


def gold_versions_by_task(layout: DataLayout, embedder: str) -> dict[str, dict[str, str]]:
    """task -> gold key -> version, for the golds a trainee is scored against now: those
    embedded with ``embedder`` whose steps exist (what ``gold_keys_for_task`` finds)."""
    folder = layout.embeddings / "gold"
    found: dict[str, dict[str, str]] = {}
    for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            meta = read_json(meta_path)
            task, key = meta["task_id"], meta_path.stem
            if meta.get("embedder") != embedder:
                continue
            if not layout.table_file("steps", task, key).exists():
                continue
            details_path = layout.gold_step_details(key)
            details = read_json(details_path) if details_path.exists() else {}
        except (OSError, ValueError, KeyError):
            continue  # half-written or removed: not a gold to score against
        found.setdefault(task, {})[key] = gold_version(
            meta["sha256"],
            embedder,
            details.get("sidecar_sha256") or "none",
            meta.get("privacy_mask", "none"),
        )
    return found


def outputs_present(layout: DataLayout, role: str, task_id: str, key: str) -> bool:
    """The files a finished video leaves under the data root, all still there."""
    if role == "gold":
        paths = [layout.clip_vectors("gold", key), layout.table_file("steps", task_id, key)]
    else:
        paths = [
            layout.clip_vectors("trainee", key),
            layout.table_file("scores", task_id, key),
            layout.table_file("deviations", task_id, key),
            layout.report(task_id, key),
        ]
    return all(p.exists() for p in paths)
