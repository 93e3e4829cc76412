"""Asset checks that guard what analysts read."""

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from sopilot_pipeline.core.store import load_clip_series
from sopilot_pipeline.core.tables import read_table
from sopilot_pipeline.defs.partitions import trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings


@asset_check(
    asset="trainee_clip_embeddings",
    partitions_def=trainee_videos,
    description="Vectors are finite, non-empty and match their clip times.",
)
def trainee_embeddings_are_finite(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    series, meta = load_clip_series(settings.layout, "trainee", context.partition_key)
    ok = (
        len(series.vectors) > 0
        and bool(np.isfinite(series.vectors).all())
        and len(series.vectors) == len(series.start_sec)
    )
    return AssetCheckResult(passed=ok, metadata={"num_clips": len(series.vectors)})


@asset_check(
    asset="trainee_score",
    partitions_def=trainee_videos,
    description="Score is within 0-100 and its counts match the deviation rows.",
)
def trainee_score_is_consistent(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    layout = settings.layout
    key = context.partition_key
    _, meta = load_clip_series(layout, "trainee", key)
    score = read_table(layout.table_file("scores", meta["task_id"], key)).to_pylist()
    devs = read_table(layout.table_file("deviations", meta["task_id"], key)).to_pylist()
    if len(score) != 1:
        return AssetCheckResult(passed=False, metadata={"score_rows": len(score)})
    row = score[0]
    counted = {
        t: sum(d["type"] == t for d in devs)
        for t in ("missing_step", "swapped_step", "over_time", "extra_step")
    }
    ok = (
        0.0 <= row["score"] <= 100.0
        and row["num_missing"] == counted["missing_step"]
        and row["num_swapped"] == counted["swapped_step"]
        and row["num_over_time"] == counted["over_time"]
        and row["num_extra"] == counted["extra_step"]
    )
    return AssetCheckResult(
        passed=ok, metadata={"score": row["score"], "deviation_rows": len(devs)}
    )
