"""Reading and writing pipeline artefacts in the data layout (no orchestration here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.embed.adapter import (
    FeatureAdapter,
    TaskAdapter,
    fit_feature_adapter,
    load_feature_adapter,
)
from sopilot_pipeline.core.embed.base import ClipEmbeddings
from sopilot_pipeline.core.embed.registry import feature_groups, moving_share
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.scoring.results import GoldVariation, ScoreResult
from sopilot_pipeline.core.scoring.step_alignment import Edit
from sopilot_pipeline.core.segment.authored_steps import is_authored_source
from sopilot_pipeline.core.segment.steps import Step, steps_from_spans, tiled_steps
from sopilot_pipeline.core.store.layout import DataLayout, read_json, write_json
from sopilot_pipeline.core.store.provenance import gold_versions_by_task
from sopilot_pipeline.core.store.tables import read_table


def save_clip_embeddings(
    layout: DataLayout, role: str, key: str, emb: ClipEmbeddings, meta: dict
) -> None:
    def write_vectors(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a handle: np.save would add ".npy" to a path
            np.save(f, emb.vectors)

    atomic_write_with(layout.clip_vectors(role, key), write_vectors)
    write_json(
        layout.clip_meta(role, key),
        {
            **meta,
            "embedder": emb.embedder,
            "dim": int(emb.vectors.shape[1]),
            "num_clips": int(emb.vectors.shape[0]),
            "start_sec": [round(float(t), 6) for t in emb.start_sec],
            "end_sec": [round(float(t), 6) for t in emb.end_sec],
        },
    )


def scan_table(layout: DataLayout, table: str) -> pl.LazyFrame | None:
    """A hive-partitioned table as a polars scan, or None while it has no file yet."""
    folder = layout.tables / table
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return None
    return pl.scan_parquet(layout.table_glob(table), hive_partitioning=True)


def load_clip_series(layout: DataLayout, role: str, key: str) -> tuple[ClipSeries, dict]:
    meta = read_json(layout.clip_meta(role, key))
    vectors = np.load(layout.clip_vectors(role, key), allow_pickle=False)
    series = ClipSeries(
        vectors=vectors,
        start_sec=np.asarray(meta["start_sec"], dtype=np.float64),
        end_sec=np.asarray(meta["end_sec"], dtype=np.float64),
        motion=moving_share(meta.get("embedder", ""), vectors),
    )
    return series, meta


def gold_keys_for_task(layout: DataLayout, task_id: str, embedder: str) -> list[str]:
    """Gold videos of ``task_id`` embedded with ``embedder`` whose steps are detected."""
    return list(gold_versions_by_task(layout, embedder).get(task_id, {}))


def all_gold_embeddings(layout: DataLayout, embedder: str) -> list[tuple[str, np.ndarray]]:
    folder = layout.embeddings / "gold"
    out = []
    for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if read_json(meta_path).get("embedder") == embedder:
            vec_path = meta_path.with_suffix(".npy")
            if vec_path.exists():
                out.append((meta_path.stem, np.load(vec_path, allow_pickle=False)))
    return out


def load_steps(layout: DataLayout, task_id: str, gold_key: str) -> tuple[Step, ...]:
    """Steps of a gold video as recorded in the steps table, mapped back onto clips,
    with their authored weights (1 for detected steps)."""
    rows = read_table(layout.table_file("steps", task_id, gold_key)).to_pylist()
    series, _ = load_clip_series(layout, "gold", gold_key)
    details = layout.gold_step_details(gold_key)
    recorded = read_json(details) if details.exists() else {}
    weights = recorded.get("weights", [])
    rows = sorted(rows, key=lambda r: r["step"])
    spans = [
        (
            r["start_sec"],
            r["end_sec"],
            r.get("step_name") or "",
            float(weights[i]) if i < len(weights) else 1.0,
        )
        for i, r in enumerate(rows)
    ]
    steps = steps_from_spans(spans, series.start_sec)
    if is_authored_source(str(recorded.get("source", ""))):
        return tiled_steps(steps, series.start_sec, series.end_sec)
    return steps


def current_adapter(layout: DataLayout, embedder: str) -> FeatureAdapter | None:
    path = layout.latest_adapter(embedder)
    return load_feature_adapter(path) if path else None


def task_fallback_adapter(golds: list[np.ndarray], embedder: str) -> FeatureAdapter:
    """Used until the first adapter is trained: z-score from the task's own golds."""
    return fit_feature_adapter(
        golds, version="task-golds", embedder=embedder, groups=feature_groups(embedder)
    )


@dataclass(frozen=True)
class SavedAlignment:
    """What ``trainee_alignment`` decided: the gold that explains the trainee best, the
    step order and edits of that explanation, and the adapter it was computed in."""

    gold_key: str
    order: tuple[int, ...]
    edits: tuple[Edit, ...]
    adapter: TaskAdapter
    path: np.ndarray
    mean_cost: float
    variation: GoldVariation = GoldVariation()  # what the task's other golds allow
    # steps another gold finds within its time (``ScoreResult.timely_elsewhere``)
    timely_elsewhere: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls, gold_key: str, result: ScoreResult, adapter: TaskAdapter, variation: GoldVariation
    ) -> SavedAlignment:
        """What to keep of the trainee's result against its best gold."""
        seq = result.alignment
        return cls(
            gold_key,
            seq.order,
            result.edits,
            adapter,
            seq.path,
            result.mean_cost,
            variation,
            result.timely_elsewhere,
        )


def save_trainee_alignment(layout: DataLayout, key: str, saved: SavedAlignment) -> None:
    edit_steps = np.full((len(saved.edits), 2), -1, dtype=np.int32)
    for i, e in enumerate(saved.edits):
        edit_steps[i, : len(e.steps)] = e.steps
    atomic_write_with(
        layout.alignment(key),
        lambda tmp: _savez(
            tmp,
            path=saved.path,
            order=np.array(saved.order, dtype=np.int32),
            edit_kinds=np.array([e.kind for e in saved.edits], dtype="U8"),
            edit_steps=edit_steps,
            edit_savings=np.array([e.saving for e in saved.edits], dtype=np.float64),
            gold_key=np.array(saved.gold_key),
            mean_cost=np.array(saved.mean_cost),
            adapter_version=np.array(saved.adapter.version),
            adapter_mean=saved.adapter.base.mean,
            adapter_std=saved.adapter.base.std,
            adapter_per_video=np.array(saved.adapter.base.per_video),
            task_feature_scale=(
                saved.adapter.scale if saved.adapter.scale is not None else np.zeros(0, np.float32)
            ),
            free_pairs=np.array(sorted(saved.variation.free_pairs), dtype=np.int32).reshape(-1, 2),
            slowest_duration_sec=np.array(saved.variation.slowest_duration_sec, dtype=np.float64),
            rest_pose=np.array(saved.variation.rest_pose),
            rest_pose_vector=np.array(saved.variation.rest_pose_vector, dtype=np.float32),
            timely_elsewhere=np.array(sorted(saved.timely_elsewhere), dtype=np.int32),
        ),
    )


def load_trainee_alignment(layout: DataLayout, key: str, embedder: str) -> SavedAlignment:
    with np.load(layout.alignment(key), allow_pickle=False) as f:
        edits = tuple(
            Edit(str(kind), tuple(int(s) for s in steps if s >= 0), float(saving))
            for kind, steps, saving in zip(
                f["edit_kinds"], f["edit_steps"], f["edit_savings"], strict=True
            )
        )
        base = FeatureAdapter(
            mean=f["adapter_mean"],
            std=f["adapter_std"],
            version=str(f["adapter_version"]),
            embedder=embedder,
            num_videos=0,
            num_clips=0,
            per_video=bool(f["adapter_per_video"]) if "adapter_per_video" in f.files else False,
        )
        scale = f["task_feature_scale"] if "task_feature_scale" in f.files else np.zeros(0)
        adapter = TaskAdapter(base, scale if len(scale) else None)
        return SavedAlignment(
            gold_key=str(f["gold_key"]),
            order=tuple(int(s) for s in f["order"]),
            edits=edits,
            adapter=adapter,
            path=f["path"],
            mean_cost=float(f["mean_cost"]),
            variation=GoldVariation(
                free_pairs=frozenset((int(a), int(b)) for a, b in f["free_pairs"])
                if "free_pairs" in f.files
                else frozenset(),
                slowest_duration_sec=tuple(float(d) for d in f["slowest_duration_sec"])
                if "slowest_duration_sec" in f.files
                else (),
                rest_pose=bool(f["rest_pose"]) if "rest_pose" in f.files else False,
                rest_pose_vector=tuple(float(x) for x in f["rest_pose_vector"])
                if "rest_pose_vector" in f.files
                else (),
            ),
            timely_elsewhere=frozenset(int(s) for s in f["timely_elsewhere"])
            if "timely_elsewhere" in f.files
            else frozenset(),
        )


def _savez(target: Path, /, **arrays: np.ndarray) -> None:
    with target.open("wb") as f:  # a handle: np.savez would add ".npz" to a path
        np.savez(f, **arrays)
