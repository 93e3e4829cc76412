"""Gold steps, trainee alignment and trainee score: the per-task comparison assets.

Pairwise assets are partitioned by trainee (a score belongs to a trainee video) and
read their task's gold artefacts from the data layout.
"""

import time
from datetime import UTC, datetime

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sopilot_pipeline import __version__
from sopilot_pipeline.core.adapter import FeatureAdapter
from sopilot_pipeline.core.atomic import atomic_write_with
from sopilot_pipeline.core.embed import feature_groups
from sopilot_pipeline.core.layout import DataLayout
from sopilot_pipeline.core.report import ReportContext, write_score_report
from sopilot_pipeline.core.scoring import ClipSeries, ScoreResult, evaluate_trainee
from sopilot_pipeline.core.steps import detect_gold_steps
from sopilot_pipeline.core.store import (
    current_adapter,
    gold_keys_for_task,
    load_clip_series,
    load_steps,
    task_fallback_adapter,
)
from sopilot_pipeline.core.tables import DEVIATIONS_SCHEMA, SCORES_SCHEMA, STEPS_SCHEMA, write_table
from sopilot_pipeline.defs.partitions import gold_videos, trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings

GOLD_INPUTS = [
    AssetKey("gold_clip_embeddings"),
    AssetKey("gold_steps"),
    AssetKey("feature_adapter"),
]


@asset(
    partitions_def=gold_videos,
    group_name="gold_videos",
    deps=["gold_clip_embeddings"],
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet"},
    description="Step boundaries of a gold video (kernel change points with a minimum "
    "step length), written to tables/steps.",
)
def gold_steps(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    layout = settings.layout
    key = context.partition_key
    series, meta = load_clip_series(layout, "gold", key)
    steps = detect_gold_steps(
        series.vectors,
        series.start_sec,
        series.end_sec,
        feature_groups(meta["embedder"]),
        settings.step_detection,
    )
    rows = [
        {
            "task_id": meta["task_id"],
            "gold_video": meta["video"],
            "step": s.index,
            "start_sec": s.start_sec,
            "end_sec": s.end_sec,
        }
        for s in steps
    ]
    write_table(layout.table_file("steps", meta["task_id"], key), rows, STEPS_SCHEMA)
    table = "| step | start (s) | end (s) |\n|---|---|---|\n" + "\n".join(
        f"| {s.index + 1} | {s.start_sec:.1f} | {s.end_sec:.1f} |" for s in steps
    )
    return MaterializeResult(
        metadata={
            "task_id": meta["task_id"],
            "num_steps": len(steps),
            "steps": MetadataValue.md(table),
            "dagster/row_count": len(rows),
        }
    )


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
    automation_condition=AutomationCondition.eager().ignore(AssetSelection.assets(*GOLD_INPUTS)),
    kinds={"numpy"},
    description="The trainee explained against each gold video of its task (DTW over an "
    "edited gold step sequence, in the current adapter's feature space); keeps the gold "
    "that explains it best. Waits (no output) while the task has no gold video yet.",
)
def trainee_alignment(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    key = context.partition_key
    trainee, meta = load_clip_series(layout, "trainee", key)
    embedder = meta["embedder"]
    gold_keys = gold_keys_for_task(layout, meta["task_id"], embedder)
    if not gold_keys:
        context.log.warning(f"task {meta['task_id']!r} has no gold video yet; not scored")
        return
    golds = {g: load_clip_series(layout, "gold", g)[0] for g in gold_keys}
    adapter = _adapter_for(layout, embedder, [g.vectors for g in golds.values()])
    t0 = time.perf_counter()
    adapted_trainee = ClipSeries(adapter.apply(trainee.vectors), trainee.start_sec, trainee.end_sec)
    candidates: dict[str, ScoreResult] = {}
    for g, series in golds.items():
        adapted = ClipSeries(adapter.apply(series.vectors), series.start_sec, series.end_sec)
        steps = load_steps(layout, meta["task_id"], g)
        candidates[g] = evaluate_trainee(adapted, steps, adapted_trainee, settings.scoring)
    # the gold the trainee is closest to is the one that explains them best
    best = max(candidates, key=lambda g: (candidates[g].score, -candidates[g].mean_cost))
    result = candidates[best]
    elapsed = time.perf_counter() - t0
    atomic_write_with(
        layout.alignment(key),
        lambda tmp: np.savez(
            tmp.open("wb"),
            path=result.alignment.path,
            order=np.array(result.alignment.order),
            gold_key=np.array(best),
            mean_cost=np.array(result.mean_cost),
            adapter_version=np.array(adapter.version),
            adapter_mean=adapter.mean,
            adapter_std=adapter.std,
        ),
    )
    yield MaterializeResult(
        metadata={
            "task_id": meta["task_id"],
            "gold_video": best,
            "golds_compared": len(candidates),
            "path_length": len(result.alignment.path),
            "mean_cost": round(result.mean_cost, 4),
            "adapter_version": adapter.version,
            "dtw_seconds": round(elapsed, 4),
        }
    )


@asset(
    partitions_def=trainee_videos,
    group_name="trainee_videos",
    deps=[trainee_alignment],
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet", "pdf"},
    description="Deviations and the 0-100 score of a trainee video; rows in "
    "tables/scores and tables/deviations, and a PDF report.",
)
def trainee_score(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    layout = settings.layout
    key = context.partition_key
    trainee, meta = load_clip_series(layout, "trainee", key)
    with np.load(layout.alignment(key), allow_pickle=False) as saved:
        gold_key = str(saved["gold_key"])
        adapter = FeatureAdapter(
            mean=saved["adapter_mean"],
            std=saved["adapter_std"],
            version=str(saved["adapter_version"]),
            embedder=meta["embedder"],
            num_videos=0,
            num_clips=0,
        )
    gold, gold_meta = load_clip_series(layout, "gold", gold_key)
    task_id = meta["task_id"]
    steps = load_steps(layout, task_id, gold_key)
    result = evaluate_trainee(
        ClipSeries(adapter.apply(gold.vectors), gold.start_sec, gold.end_sec),
        steps,
        ClipSeries(adapter.apply(trainee.vectors), trainee.start_sec, trainee.end_sec),
        settings.scoring,
    )
    scored_at = datetime.now(UTC)
    c = result.counts
    mean_cost = result.mean_cost
    write_table(
        layout.table_file("scores", task_id, key),
        [
            {
                "task_id": task_id,
                "trainee_video": meta["video"],
                "gold_video": gold_meta["video"],
                "score": result.score,
                "num_gold_steps": len(steps),
                "num_missing": c["missing_step"],
                "num_swapped": c["swapped_step"],
                "num_over_time": c["over_time"],
                "num_extra": c["extra_step"],
                "alignment_cost": mean_cost,
                "embedder": meta["embedder"],
                "adapter_version": adapter.version,
                "pipeline_version": __version__,
                "scored_at": scored_at,
            }
        ],
        SCORES_SCHEMA,
    )
    write_table(
        layout.table_file("deviations", task_id, key),
        [
            {
                "task_id": task_id,
                "trainee_video": meta["video"],
                "gold_video": gold_meta["video"],
                "type": d.type,
                "gold_step": d.gold_step,
                "gold_start_sec": d.gold_start_sec,
                "gold_end_sec": d.gold_end_sec,
                "trainee_start_sec": d.trainee_start_sec,
                "trainee_end_sec": d.trainee_end_sec,
                "severity": d.severity,
                "detail": d.detail,
            }
            for d in result.deviations
        ],
        DEVIATIONS_SCHEMA,
    )
    report = write_score_report(
        layout.report(task_id, key),
        result,
        ReportContext(
            task_id=task_id,
            trainee_video=meta["video"],
            gold_video=gold_meta["video"],
            gold_duration_sec=float(gold.end_sec[-1]),
            trainee_duration_sec=float(trainee.end_sec[-1]),
            embedder=meta["embedder"],
            adapter_version=adapter.version,
            scored_at=scored_at.isoformat(timespec="seconds"),
        ),
    )
    summary = "\n".join(
        [f"**Score {result.score:.1f}** for `{meta['video']}` against `{gold_meta['video']}`", ""]
        + (
            [
                f"- {d.type} (step {'-' if d.gold_step is None else d.gold_step + 1}): {d.detail}"
                for d in result.deviations
            ]
            or ["- no deviations"]
        )
    )
    return MaterializeResult(
        metadata={
            "task_id": task_id,
            "score": result.score,
            "num_deviations": len(result.deviations),
            **{f"num_{k}": v for k, v in c.items()},
            "summary": MetadataValue.md(summary),
            "report": MetadataValue.path(str(report)),
        }
    )
