"""Clip search: "where in which video does this step happen?"

An exact index over every clip embedding (cosine similarity in the adapter's space): one
float32 GEMM against all clips and an ``argpartition`` for the top k, which at 100k clips
of a few hundred dimensions takes a few milliseconds on one core (``benchmarks/search.py``)
— an approximate index would add error and a dependency for no real gain at this scale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sopilot_pipeline.core.align.dtw import l2_normalise
from sopilot_pipeline.core.base.atomic import atomic_write_with


@dataclass(frozen=True)
class ClipIndex:
    vectors: np.ndarray  # (N, d) float32, L2-normalised
    video: np.ndarray  # (N,) int32 into ``videos``
    start_sec: np.ndarray  # (N,) float32
    end_sec: np.ndarray  # (N,) float32
    videos: tuple[dict, ...]  # {"key", "role", "task_id", "video"} per video
    embedder: str
    adapter_version: str


@dataclass(frozen=True)
class Hit:
    score: float  # cosine similarity
    task_id: str
    role: str
    video: str
    partition_key: str
    start_sec: float
    end_sec: float


def build_clip_index(
    entries: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]],
    embedder: str,
    adapter_version: str,
) -> ClipIndex:
    """``entries``: (video info, adapted vectors, clip starts, clip ends) per video."""
    if not entries:
        raise ValueError("no clips to index")
    vectors = l2_normalise(np.concatenate([v for _, v, _, _ in entries]).astype(np.float32))
    return ClipIndex(
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        video=np.concatenate(
            [np.full(len(v), i, dtype=np.int32) for i, (_, v, _, _) in enumerate(entries)]
        ),
        start_sec=np.concatenate([s for _, _, s, _ in entries]).astype(np.float32),
        end_sec=np.concatenate([e for _, _, _, e in entries]).astype(np.float32),
        videos=tuple(info for info, _, _, _ in entries),
        embedder=embedder,
        adapter_version=adapter_version,
    )


def query_from_span(
    index: ClipIndex, partition_key: str, start_sec: float, end_sec: float
) -> np.ndarray:
    """The indexed clips of one video that lie within [start, end] (a gold step, say)."""
    ids = [i for i, v in enumerate(index.videos) if v["key"] == partition_key]
    if not ids:
        raise KeyError(f"video {partition_key!r} is not in the index")
    rows = (index.video == ids[0]) & (index.end_sec > start_sec) & (index.start_sec < end_sec)
    inside = rows & (index.start_sec >= start_sec - 1e-6) & (index.end_sec <= end_sec + 1e-6)
    chosen = inside if inside.any() else rows
    if not chosen.any():
        raise ValueError(f"no clip of {partition_key!r} between {start_sec} and {end_sec} s")
    return index.vectors[chosen]


def search(
    index: ClipIndex,
    query: np.ndarray,
    k: int = 10,
    per_video: int = 1,
    exclude_key: str | None = None,
) -> list[Hit]:
    """Top ``k`` clips most similar to ``query`` (one vector, or several averaged), at most
    ``per_video`` from any one video so the answer spans videos; ``exclude_key`` leaves
    out the video the query came from."""
    q = np.asarray(query, dtype=np.float32)
    q = l2_normalise(q.reshape(-1, index.vectors.shape[1]).mean(axis=0, keepdims=True))[0]
    sims = index.vectors @ q
    pool = min(len(sims), max(k * per_video * 8, 64))
    top = np.argpartition(-sims, pool - 1)[:pool]
    hits: list[Hit] = []
    taken: dict[int, int] = {}
    for i in top[np.argsort(-sims[top], kind="stable")]:
        v = int(index.video[i])
        if taken.get(v, 0) >= per_video or index.videos[v]["key"] == exclude_key:
            continue
        taken[v] = taken.get(v, 0) + 1
        info = index.videos[v]
        hits.append(
            Hit(
                float(sims[i]),
                info["task_id"],
                info["role"],
                info["video"],
                info["key"],
                float(index.start_sec[i]),
                float(index.end_sec[i]),
            )
        )
        if len(hits) == k:
            break
    return hits


def save_clip_index(index: ClipIndex, folder: Path) -> Path:
    """One file (vectors, times and the video table together), replaced atomically."""
    path = folder / f"clip_index_{index.embedder}.npz"
    meta = {
        "videos": list(index.videos),
        "embedder": index.embedder,
        "adapter_version": index.adapter_version,
    }

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez(
                f,
                vectors=index.vectors,
                video=index.video,
                start_sec=index.start_sec,
                end_sec=index.end_sec,
                meta=np.array(json.dumps(meta)),
            )

    return atomic_write_with(path, write)


def load_clip_index(folder: Path, embedder: str) -> ClipIndex:
    with np.load(folder / f"clip_index_{embedder}.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        return ClipIndex(
            vectors=f["vectors"],
            video=f["video"],
            start_sec=f["start_sec"],
            end_sec=f["end_sec"],
            videos=tuple(meta["videos"]),
            embedder=meta["embedder"],
            adapter_version=meta["adapter_version"],
        )
