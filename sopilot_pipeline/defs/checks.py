"""Asset checks that guard what analysts read.

A check runs in the same run as its asset, over the same partitions: one key, or a
backfill range whose partitions all materialised (see ``defs/batch.py``). Over a range
it passes only if every partition passes, and lists the ones that do not.
"""

from collections.abc import Callable

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from sopilot_pipeline.core.layout import DataLayout
from sopilot_pipeline.core.store import load_clip_series
from sopilot_pipeline.core.tables import read_table
from sopilot_pipeline.defs.partitions import trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings

COUNTED = {
    "missing_step": "num_missing",
    "swapped_step": "num_swapped",
    "over_time": "num_over_time",
    "extra_step": "num_extra",
}


def _check_partitions(
    context: AssetCheckExecutionContext, problem: Callable[[str], str | None]
) -> AssetCheckResult:
    keys = list(context.op_execution_context.partition_keys)
    problems = {k: p for k in keys if (p := problem(k)) is not None}
    metadata: dict = {"partitions_checked": len(keys)}
    if len(keys) == 1:
        metadata["partition"] = keys[0]
    if problems:
        metadata["problems"] = MetadataValue.md(
            "\n".join(f"- `{k}`: {p}" for k, p in problems.items())
        )
    return AssetCheckResult(passed=not problems, metadata=metadata)


def embeddings_problem(layout: DataLayout, key: str) -> str | None:
    series, _ = load_clip_series(layout, "trainee", key)
    if len(series.vectors) == 0:
        return "no clips"
    if not np.isfinite(series.vectors).all():
        return "non-finite values in the vectors"
    if len(series.vectors) != len(series.start_sec):
        return f"{len(series.vectors)} vectors but {len(series.start_sec)} clip times"
    return None


def score_problem(layout: DataLayout, key: str) -> str | None:
    _, meta = load_clip_series(layout, "trainee", key)
    score = read_table(layout.table_file("scores", meta["task_id"], key)).to_pylist()
    devs = read_table(layout.table_file("deviations", meta["task_id"], key)).to_pylist()
    if len(score) != 1:
        return f"{len(score)} score rows, expected 1"
    row = score[0]
    if not 0.0 <= row["score"] <= 100.0:
        return f"score {row['score']} outside 0-100"
    for kind, column in COUNTED.items():
        rows = sum(d["type"] == kind for d in devs)
        if row[column] != rows:
            return f"{column}={row[column]} but {rows} {kind} deviation rows"
    return None


@asset_check(
    asset="trainee_clip_embeddings",
    partitions_def=trainee_videos,
    description="Vectors are finite, non-empty and match their clip times.",
)
def trainee_embeddings_are_finite(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    return _check_partitions(context, lambda k: embeddings_problem(settings.layout, k))


@asset_check(
    asset="trainee_score",
    partitions_def=trainee_videos,
    description="Score is within 0-100 and its counts match the deviation rows.",
)
def trainee_score_is_consistent(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    return _check_partitions(context, lambda k: score_problem(settings.layout, k))
