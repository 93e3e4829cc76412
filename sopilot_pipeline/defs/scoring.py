"""Gold steps, trainee alignment and trainee score: the per-task comparison assets.

Pairwise assets are partitioned by trainee (a score belongs to a trainee video) and
read their task's gold artefacts from the data layout. ``trainee_alignment`` runs the
expensive edit search once; ``trainee_score`` replays the saved result with one DP.
"""

import time
from typing import Any

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    MetadataValue,
    asset,
)

from sopilot_pipeline.core.align.edit_totals_gpu import gpu_available as lockstep_available
from sopilot_pipeline.core.embed.adapter import FeatureAdapter, TaskAdapter
from sopilot_pipeline.core.embed.heuristic import feature_groups, where_dimensions
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.outputs.preview import (
    alignment_preview_png,
    markdown_image,
)
from sopilot_pipeline.core.scoring.explain import (
    TraineeAlignment,
    align_to_golds,
    align_trainees,
)
from sopilot_pipeline.core.scoring.gold_model import (
    gold_variations,
    is_rest_pose_task,
    task_feature_scale,
)
from sopilot_pipeline.core.scoring.results import GoldVariation, ScoreResult, ScoringConfig
from sopilot_pipeline.core.scoring.score import evaluate_trainee
from sopilot_pipeline.core.segment.authored_steps import (
    SidecarError,
    authored_gold_steps,
    read_sidecar,
    sidecar_path,
)
from sopilot_pipeline.core.segment.steps import detect_gold_steps
from sopilot_pipeline.core.store.embeddings import (
    SavedAlignment,
    current_adapter,
    gold_keys_for_task,
    load_clip_series,
    load_steps,
    save_trainee_alignment,
    task_fallback_adapter,
)
from sopilot_pipeline.core.store.layout import DataLayout, write_json
from sopilot_pipeline.core.store.provenance import (
    gold_version,
)
from sopilot_pipeline.core.store.tables import (
    STEPS_SCHEMA,
    write_table,
)
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Rejected, Skip
from sopilot_pipeline.defs.partitions import gold_videos, trainee_videos
from sopilot_pipeline.defs.rejected import rejection_recorder
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata
from sopilot_pipeline.defs.work import partition_reason

GOLD_INPUTS = [
    AssetKey("gold_clip_embeddings"),
    AssetKey("gold_steps"),
    AssetKey("feature_adapter"),
]


@asset(
    partitions_def=gold_videos,
    group_name="gold_videos",
    deps=["gold_clip_embeddings"],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet"},
    metadata=column_schema_metadata("steps"),
    description="Steps of a gold video: authored in `<stem>.steps.csv` beside the video "
    "(names and weights), else detected (SOPILOT_STEP_METHOD, by default the returns to "
    "the rest pose the video opens in, or kernel change points; named `step 1`, "
    "`step 2`, ...); written to tables/steps. A bad sidecar rejects the gold with the "
    "line at fault.",
)
def gold_steps(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    batch = PartitionBatch(context, on_rejected=rejection_recorder(context, layout, "gold"))

    def segment(key: str) -> dict[str, Any]:
        series, meta = load_clip_series(layout, "gold", key)
        task_id = meta["task_id"]
        video = layout.watch / task_id / "gold" / meta["video"]
        try:
            authored, sidecar_sha256 = read_sidecar(video, meta.get("duration_sec"))
            steps = authored_gold_steps(authored, series.start_sec) if authored else None
        except SidecarError as exc:
            reason = f"steps sidecar {sidecar_path(video).name}: {exc}"
            layout.table_file("steps", task_id, key).unlink(missing_ok=True)
            layout.gold_step_details(key).unlink(missing_ok=True)
            raise Rejected(reason, task_id, meta["video"]) from exc
        source = f"authored ({sidecar_path(video).name})" if steps else "detected"
        if steps is None:
            steps = detect_gold_steps(
                series.vectors,
                series.start_sec,
                series.end_sec,
                feature_groups(meta["embedder"]),
                settings.step_detection,
            )
        rows = [
            {
                "task_id": task_id,
                "gold_video": meta["video"],
                "step": s.index,
                "start_sec": s.start_sec,
                "end_sec": s.end_sec,
                "step_name": s.label,
            }
            for s in steps
        ]
        write_json(
            layout.gold_step_details(key),
            {
                "source": source,
                "sidecar_sha256": sidecar_sha256,
                "weights": [s.weight for s in steps],
            },
        )
        write_table(layout.table_file("steps", task_id, key), rows, STEPS_SCHEMA)
        batch.versions[key] = gold_version(
            meta["sha256"], meta["embedder"], sidecar_sha256, meta.get("privacy_mask", "none")
        )
        table = (
            "| step | name | start (s) | end (s) | weight |\n|---|---|---|---|---|\n"
            + "\n".join(
                f"| {s.index + 1} | {_md_cell(s.label)} | {s.start_sec:.1f} | {s.end_sec:.1f} "
                f"| {s.weight:g} |"
                for s in steps
            )
        )
        return {
            "task_id": task_id,
            "reason": partition_reason(context.run.tags, key),
            "num_steps": len(steps),
            "step_source": source,
            "steps": MetadataValue.md(table),
            "dagster/row_count": len(rows),
        }

    batch.run(segment)
    yield from batch.results()


def _md_cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _adapter_for(layout: DataLayout, embedder: str, golds: list[np.ndarray]) -> FeatureAdapter:
    return current_adapter(layout, embedder) or task_fallback_adapter(golds, embedder)


@asset(
    partitions_def=trainee_videos,
    group_name="trainee_videos",
    deps=[
        "trainee_clip_embeddings",
        AssetDep("gold_clip_embeddings", partition_mapping=AllPartitionMapping()),
        AssetDep("gold_steps", partition_mapping=AllPartitionMapping()),
        "feature_adapter",
    ],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager().ignore(AssetSelection.assets(*GOLD_INPUTS)),
    kinds={"numpy"},
    description="The trainee explained against each gold video of its task (DTW over an "
    "edited gold step sequence, in the current adapter's feature space); keeps the gold "
    "that explains it best. Waits (no output) while the task has no gold video yet.",
)
def trainee_alignment(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    task_golds = TaskGolds(layout, settings.scoring)
    batch = PartitionBatch(context)
    searched = searched_together(layout, task_golds, batch.keys, settings.scoring)

    def align(key: str) -> dict[str, Any]:
        meta, golds, adapted_trainee = adapted_trainee_for(layout, task_golds, key)
        if golds is None:
            context.log.warning(f"task {meta['task_id']!r} has no gold video yet; not scored")
            raise Skip("task has no gold video with steps yet")
        adapter, adapted_golds, variations = golds
        t0 = time.perf_counter()
        alignments = searched.pop(key, None) or align_to_golds(
            adapted_golds, adapted_trainee, settings.scoring
        )
        candidates: dict[str, ScoreResult] = {
            g: evaluate_trainee(
                series,
                steps,
                adapted_trainee,
                settings.scoring,
                alignment=alignments[g],
                variation=variations[g],
            )
            for g, (series, steps) in adapted_golds.items()
        }
        # the gold the trainee is closest to is the one that explains them best
        best = max(candidates, key=lambda g: (candidates[g].score, -candidates[g].mean_cost))
        result = candidates[best]
        elapsed = time.perf_counter() - t0
        save_trainee_alignment(
            layout,
            key,
            SavedAlignment(
                gold_key=best,
                order=result.alignment.order,
                edits=result.edits,
                adapter=adapter,
                path=result.alignment.path,
                mean_cost=result.mean_cost,
                variation=variations[best],
            ),
        )
        gold_series = adapted_golds[best][0]
        preview = alignment_preview_png(
            gold_series.vectors, adapted_trainee.vectors, result.alignment.path
        )
        return {
            "preview": MetadataValue.md(markdown_image(preview, "alignment path")),
            "task_id": meta["task_id"],
            "gold_video": best,
            "golds_compared": len(candidates),
            "orders_allowed_by_other_golds": len(variations[best].free_pairs),
            "rest_pose_task": variations[best].rest_pose,
            "path_length": len(result.alignment.path),
            "mean_cost": round(result.mean_cost, 4),
            "adapter_version": adapter.version,
            "dtw_seconds": round(elapsed, 4),
        }

    batch.run(align)
    yield from batch.results()


def adapted_trainee_for(
    layout: DataLayout, task_golds: "TaskGolds", key: str
) -> tuple[dict[str, Any], "LoadedGolds | None", ClipSeries]:
    """A trainee's metadata, its task's golds (None: no gold yet) and its clips in their
    adapter's feature space (the raw clips while there is no gold)."""
    trainee, meta = load_clip_series(layout, "trainee", key)
    golds = task_golds.get(meta["task_id"], meta["embedder"])
    if golds is None:
        return meta, None, trainee
    adapter = golds[0]
    return (
        meta,
        golds,
        ClipSeries(adapter.apply(trainee.vectors), trainee.start_sec, trainee.end_sec),
    )


LOCKSTEP_BYTES = 1 << 30
"""Cost matrices of a range run's trainees searched together on a GPU, at most."""


def searched_together(
    layout: DataLayout, task_golds: "TaskGolds", keys: list[str], config: ScoringConfig
) -> dict[str, dict[str, TraineeAlignment]]:
    """On a GPU, the alignments of a range run's trainees against their golds, searched
    in lockstep in groups of up to ``LOCKSTEP_BYTES`` of cost matrices (one kernel launch
    per round for the whole group). Empty on the CPU, where that gains nothing. A
    trainee that cannot be prepared here is left out: it is aligned, and fails with its
    reason, on its own."""
    if not lockstep_available():
        return {}
    out: dict[str, dict[str, TraineeAlignment]] = {}
    group: list[tuple[str, dict, ClipSeries]] = []
    size = 0

    def search() -> None:
        nonlocal size
        found = align_trainees([(golds, trainee) for _, golds, trainee in group], config)
        out.update({key: a for (key, _, _), a in zip(group, found, strict=True)})
        group.clear()
        size = 0

    for key in keys:
        try:
            _, golds, adapted = adapted_trainee_for(layout, task_golds, key)
        except Exception:  # noqa: BLE001 - the key's own alignment reports it
            continue
        if golds is None:
            continue
        adapted_golds = golds[1]
        group.append((key, adapted_golds, adapted))
        size += sum(len(g.vectors) for g, _ in adapted_golds.values()) * len(adapted.vectors) * 4
        if size >= LOCKSTEP_BYTES:
            search()
    if group:
        search()
    return out


LoadedGolds = tuple[TaskAdapter, dict, dict[str, GoldVariation]]


class TaskGolds:
    """Each task's golds (adapted, with steps, and what they allow together) loaded once
    per step, not once per trainee."""

    def __init__(self, layout: DataLayout, config: ScoringConfig) -> None:
        self.layout = layout
        self.config = config
        self.cache: dict[tuple[str, str], LoadedGolds | None] = {}

    def get(self, task_id: str, embedder: str) -> LoadedGolds | None:
        if (task_id, embedder) not in self.cache:
            self.cache[task_id, embedder] = self._load(task_id, embedder)
        return self.cache[task_id, embedder]

    def _load(self, task_id: str, embedder: str) -> LoadedGolds | None:
        gold_keys = gold_keys_for_task(self.layout, task_id, embedder)
        if not gold_keys:
            return None
        golds = {g: load_clip_series(self.layout, "gold", g)[0] for g in gold_keys}
        base = _adapter_for(self.layout, embedder, [g.vectors for g in golds.values()])
        rest_pose = is_rest_pose_task(golds)
        adapter = TaskAdapter(base, task_feature_scale(rest_pose, where_dimensions(embedder)))
        adapted = {
            g: (
                ClipSeries(adapter.apply(series.vectors), series.start_sec, series.end_sec),
                load_steps(self.layout, task_id, g),
            )
            for g, series in golds.items()
        }
        return adapter, adapted, gold_variations(adapted, self.config, rest_pose)
