"""trainee_alignment: each trainee explained against every gold of its task.

The expensive part of scoring: an edit search (which steps were left out, which pairs
swapped) over DTW for each gold; the gold that explains the trainee best is kept with
its step order and edits, so that ``trainee_score`` replays it with one DP. On a GPU a
range run's trainees are searched in lockstep (``searched_together``).
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
from sopilot_pipeline.core.embed.registry import where_dimensions
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.outputs.preview import alignment_preview_png, markdown_image
from sopilot_pipeline.core.scoring.explain import (
    Explanation,
    align_to_golds,
    align_trainees,
)
from sopilot_pipeline.core.scoring.gold_model import (
    gold_variations,
    is_rest_pose_task,
    task_feature_scale,
)
from sopilot_pipeline.core.scoring.results import GoldVariation, ScoringConfig
from sopilot_pipeline.core.scoring.score import best_gold
from sopilot_pipeline.core.store.embeddings import (
    SavedAlignment,
    current_adapter,
    gold_keys_for_task,
    load_clip_series,
    load_steps,
    save_trainee_alignment,
    task_fallback_adapter,
)
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.defs.asset_keys import (
    FEATURE_ADAPTER,
    GOLD_CLIP_EMBEDDINGS,
    GOLD_STEPS,
    TRAINEE_ALIGNMENT,
    TRAINEE_CLIP_EMBEDDINGS,
)
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Skip
from sopilot_pipeline.defs.partitions import trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.work import partition_reason

GOLD_INPUTS = [AssetKey(GOLD_CLIP_EMBEDDINGS), AssetKey(GOLD_STEPS), AssetKey(FEATURE_ADAPTER)]


@asset(
    name=TRAINEE_ALIGNMENT,
    partitions_def=trainee_videos,
    group_name="trainee_videos",
    deps=[
        TRAINEE_CLIP_EMBEDDINGS,
        AssetDep(GOLD_CLIP_EMBEDDINGS, partition_mapping=AllPartitionMapping()),
        AssetDep(GOLD_STEPS, partition_mapping=AllPartitionMapping()),
        FEATURE_ADAPTER,
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
        try:
            metadata = align_trainee(layout, key, task_golds, searched.pop(key, None), settings)
        except Skip as waiting:
            context.log.warning(f"{waiting}; not scored")
            raise
        return {**metadata, "reason": partition_reason(context.run.tags, key)}

    batch.run(align)
    yield from batch.results()


def align_trainee(
    layout: DataLayout,
    key: str,
    task_golds: "TaskGolds",
    searched: dict[str, Explanation] | None,
    settings: SopilotSettings,
) -> dict[str, Any]:
    """Explain one trainee against its task's golds (``searched``: alignments already
    found in lockstep) and save the best; its metadata. Skipped while there is no gold."""
    meta, golds, trainee = adapted_trainee_for(layout, task_golds, key)
    if golds is None:
        raise Skip(f"task {meta['task_id']!r} has no gold video with steps yet")
    adapter, adapted_golds, variations = golds
    t0 = time.perf_counter()
    alignments = searched or align_to_golds(adapted_golds, trainee, settings.scoring)
    best, result = best_gold(adapted_golds, trainee, alignments, variations, settings.scoring)
    elapsed = time.perf_counter() - t0
    path = result.alignment.path
    save_trainee_alignment(layout, key, SavedAlignment.of(best, result, adapter, variations[best]))
    preview = alignment_preview_png(adapted_golds[best][0].vectors, trainee.vectors, path)
    return {
        "preview": MetadataValue.md(markdown_image(preview, "alignment path")),
        "task_id": meta["task_id"],
        "gold_video": best,
        "golds_compared": len(adapted_golds),
        "orders_allowed_by_other_golds": len(variations[best].free_pairs),
        "rest_pose_task": variations[best].rest_pose,
        "path_length": len(path),
        "mean_cost": round(result.mean_cost, 4),
        "adapter_version": adapter.version,
        "dtw_seconds": round(elapsed, 4),
    }


def _adapter_for(layout: DataLayout, embedder: str, golds: list[np.ndarray]) -> FeatureAdapter:
    return current_adapter(layout, embedder) or task_fallback_adapter(golds, embedder)


def adapted_trainee_for(
    layout: DataLayout, task_golds: "TaskGolds", key: str
) -> tuple[dict[str, Any], "LoadedGolds | None", ClipSeries]:
    """A trainee's metadata, its task's golds (None: no gold yet) and its clips in their
    adapter's feature space (the raw clips while there is no gold)."""
    trainee, meta = load_clip_series(layout, "trainee", key)
    golds = task_golds.get(meta["task_id"], meta["embedder"])
    if golds is None:
        return meta, None, trainee
    return meta, golds, trainee.mapped(golds[0].apply)


LOCKSTEP_BYTES = 1 << 30
"""Cost matrices of a range run's trainees searched together on a GPU, at most."""


def searched_together(
    layout: DataLayout, task_golds: "TaskGolds", keys: list[str], config: ScoringConfig
) -> dict[str, dict[str, Explanation]]:
    """On a GPU, the alignments of a range run's trainees against their golds, searched
    in lockstep in groups of up to ``LOCKSTEP_BYTES`` of cost matrices (one kernel launch
    per round for the whole group). Empty on the CPU, where that gains nothing. A
    trainee that cannot be prepared here is left out: it is aligned, and fails with its
    reason, on its own."""
    if not lockstep_available():
        return {}
    out: dict[str, dict[str, Explanation]] = {}
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
                series.mapped(adapter.apply),
                load_steps(self.layout, task_id, g),
            )
            for g, series in golds.items()
        }
        return adapter, adapted, gold_variations(adapted, self.config, rest_pose)
