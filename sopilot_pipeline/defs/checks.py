"""Asset checks that guard what analysts read.

A check runs in the same run as its asset, over the same partitions: one key, or a
backfill range whose partitions all materialised (see ``defs/batch.py``). The score's
check (``SCORE_CHECK``) runs inside ``trainee_score``, which records a data version per
partition and so has no output for a separate check step to follow. Over a range
it passes only if every partition passes, and lists the ones that do not.
"""

from collections.abc import Callable

import numpy as np
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
    MetadataValue,
    asset_check,
)

from sopilot_pipeline.core.embed.registry import stored_dim
from sopilot_pipeline.core.store.embeddings import (
    load_clip_series,
    load_steps,
    load_trainee_alignment,
)
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.core.store.tables import read_table
from sopilot_pipeline.defs.asset_keys import (
    TRAINEE_ALIGNMENT,
    TRAINEE_CLIP_EMBEDDINGS,
    TRAINEE_SCORE,
)
from sopilot_pipeline.defs.partitions import trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings

SCORE_CHECK = AssetCheckSpec(
    "trainee_score_is_consistent",
    asset=TRAINEE_SCORE,
    description="Score is within 0-100 and its counts match the deviation rows.",
)
COUNTED = {
    "missing_step": "num_missing",
    "swapped_step": "num_swapped",
    "over_time": "num_over_time",
    "extra_step": "num_extra",
}


def _check_partitions(
    context: AssetCheckExecutionContext, problem: Callable[[str], str | None]
) -> AssetCheckResult:
    return check_result(list(context.op_execution_context.partition_keys), problem)


def check_result(
    keys: list[str], problem: Callable[[str], str | None], check_name: str | None = None
) -> AssetCheckResult:
    """One result over ``keys``: passed when no key has a problem, else listing each."""
    problems = {k: p for k in keys if (p := problem(k)) is not None}
    metadata: dict = {"partitions_checked": len(keys)}
    if len(keys) == 1:
        metadata["partition"] = keys[0]
    if problems:
        metadata["problems"] = MetadataValue.md(
            "\n".join(f"- `{k}`: {p}" for k, p in problems.items())
        )
    return AssetCheckResult(check_name=check_name, passed=not problems, metadata=metadata)


def embeddings_problem(layout: DataLayout, key: str) -> str | None:
    series, meta = load_clip_series(layout, "trainee", key)
    if len(series.vectors) == 0:
        return "no clips"
    if not np.isfinite(series.vectors).all():
        return "non-finite values in the vectors"
    if len(series.vectors) != len(series.start_sec):
        return f"{len(series.vectors)} vectors but {len(series.start_sec)} clip times"
    expected = expected_dim(meta["embedder"], meta)
    if series.vectors.shape[1] != expected:
        return f"{series.vectors.shape[1]} dims, expected {expected} for {meta['embedder']}"
    # clips every half clip over the whole video: fewer means frames went missing
    clip_sec = float(np.median(series.end_sec - series.start_sec))
    needed = max(1, int((meta["duration_sec"] - clip_sec) / (clip_sec / 2)) - 1)
    if len(series.vectors) < needed:
        return f"{len(series.vectors)} clips for {meta['duration_sec']:.1f} s, expected {needed}+"
    return None


def expected_dim(embedder: str, meta: dict) -> int:
    dim = stored_dim(embedder, meta.get("embedder_details", {}))
    return dim if dim is not None else int(meta["dim"])


def alignment_problem(layout: DataLayout, key: str) -> str | None:
    trainee, meta = load_clip_series(layout, "trainee", key)
    saved = load_trainee_alignment(layout, key, meta["embedder"])
    gold, _ = load_clip_series(layout, "gold", saved.gold_key)
    path = saved.path
    if len(path) == 0:
        return "empty path"
    if (np.diff(path[:, 1]) < 0).any():
        return "path goes back in trainee time"
    if path[:, 0].min() < 0 or path[:, 0].max() >= len(gold.vectors):
        return "path leaves the gold video"
    if path[:, 1].min() < 0 or path[:, 1].max() >= len(trainee.vectors):
        return "path leaves the trainee video"
    steps = load_steps(layout, meta["task_id"], saved.gold_key)
    first, last = steps[saved.order[0]], steps[saved.order[-1]]
    if path[0, 0] != first.start_clip or path[-1, 0] != last.end_clip - 1:
        return "path does not run from the first to the last clip of the explained steps"
    for step in saved.order:  # every step kept in the explanation has clips on the path
        rows = path[:, 0]
        if not ((rows >= steps[step].start_clip) & (rows < steps[step].end_clip)).any():
            return f"gold step {step + 1} is in the order but not on the path"
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
    asset=TRAINEE_CLIP_EMBEDDINGS,
    partitions_def=trainee_videos,
    description="Vectors are finite, have the embedder's dimension, match their clip "
    "times, and there are enough clips for the video's duration.",
)
def trainee_embeddings_are_finite(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    return _check_partitions(context, lambda k: embeddings_problem(settings.layout, k))


@asset_check(
    asset=TRAINEE_ALIGNMENT,
    partitions_def=trainee_videos,
    description="The path moves forward in trainee time, stays inside both videos, runs "
    "from the first to the last clip of the explained gold steps and visits every one.",
)
def trainee_alignment_is_a_valid_path(
    context: AssetCheckExecutionContext, settings: SopilotSettings
) -> AssetCheckResult:
    return _check_partitions(context, lambda k: alignment_problem(settings.layout, k))
