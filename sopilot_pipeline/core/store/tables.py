"""Parquet table schemas (declared once) and atomic, replace-not-append writes.

One file per partition in a hive layout (``task_id=<t>/<key>.parquet``): polars and
DuckDB read all files with hive partitioning; re-materialising replaces the file.
``task_id`` lives in the path and, for readers that skip hive columns, in the rows too.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.scoring.results import ScoreResult
from sopilot_pipeline.core.segment.steps import Step


def _col(name: str, kind: pa.DataType, description: str) -> pa.Field:
    """A column and what it means: the description is shown in the Dagster UI."""
    return pa.field(name, kind, metadata={"description": description})


def column_description(field: pa.Field) -> str:
    return (field.metadata or {}).get(b"description", b"").decode()


_TASK = _col("task_id", pa.string(), "the task: its folder under watch/, also the hive partition")
_TRAINEE = _col("trainee_video", pa.string(), "file name of the trainee video in the watch folder")
_GOLD = _col(
    "gold_video", pa.string(), "file name of the gold video the trainee was scored against"
)

SCORES_SCHEMA = pa.schema(
    [
        _TASK,
        _TRAINEE,
        _GOLD,
        _col("score", pa.float64(), "0-100: 100 less the penalties of the deviations"),
        _col("num_gold_steps", pa.int32(), "steps of the gold video"),
        _col("num_missing", pa.int32(), "gold steps the trainee did not do"),
        _col("num_swapped", pa.int32(), "pairs of gold steps done in the other order"),
        _col("num_over_time", pa.int32(), "steps that took longer than the slowest gold allows"),
        _col("num_extra", pa.int32(), "actions the trainee did that no gold step explains"),
        _col("alignment_cost", pa.float64(), "mean DTW cost of the alignment (lower: closer)"),
        _col("embedder", pa.string(), "clip embedder (heuristic-v*, or a V-JEPA2 model)"),
        _col("adapter_version", pa.string(), "feature adapter the clips were compared in"),
        _col("pipeline_version", pa.string(), "sopilot-pipeline version that scored it"),
        _col("scored_at", pa.timestamp("us", tz="UTC"), "when it was scored (UTC)"),
        # appended columns
        _col(
            "duplicate_of",
            pa.string(),
            "task/role/file of the first video registered with the same bytes; null if none",
        ),
        _col(
            "privacy_mask",
            pa.string(),
            "faces in the clips, keyframes and report images: none, blur or pixelate",
        ),
    ]
)

DEVIATIONS_SCHEMA = pa.schema(
    [
        _TASK,
        _TRAINEE,
        _GOLD,
        _col(
            "type",
            pa.string(),
            "missing_step, swapped_step, over_time, extra_step or temporal_warp",
        ),
        _col(
            "gold_step",
            pa.int32(),
            "0-based gold step (of a swap: the earlier one); null for extra",
        ),
        _col("gold_start_sec", pa.float64(), "start of the gold step in the gold video (s)"),
        _col("gold_end_sec", pa.float64(), "end of the gold step in the gold video (s)"),
        _col("trainee_start_sec", pa.float64(), "start in the trainee video (s); null if absent"),
        _col("trainee_end_sec", pa.float64(), "end in the trainee video (s); null if absent"),
        _col("severity", pa.float64(), "0-1: how much the deviation weighs in the score"),
        _col("detail", pa.string(), "the deviation in words"),
        # appended columns
        _col(
            "trainee_clip", pa.string(), "MP4 cut around it in the trainee video (data-root path)"
        ),
        _col("gold_clip", pa.string(), "MP4 cut around it in the gold video (data-root path)"),
        _col(
            "step_name",
            pa.string(),
            "the gold step's name: authored in the gold's .steps.csv sidecar, else 'step N'",
        ),
    ]
)

STEPS_SCHEMA = pa.schema(
    [
        _TASK,
        _GOLD,
        _col("step", pa.int32(), "0-based step index"),
        _col("start_sec", pa.float64(), "start of the step in the gold video (s)"),
        _col("end_sec", pa.float64(), "end of the step in the gold video (s)"),
        _col("step_name", pa.string(), "authored in the gold's .steps.csv sidecar, else 'step N'"),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        _TASK,
        _col("role", pa.string(), "gold or trainee"),
        _col("video", pa.string(), "file name in the watch folder"),
        _col("partition_key", pa.string(), "the video's Dagster partition key"),
        _col("reason", pa.string(), "why it was refused"),
        _col("rejected_at", pa.timestamp("us", tz="UTC"), "when (UTC)"),
    ]
)

FAILED_RUNS_SCHEMA = pa.schema(
    [
        _col("run_id", pa.string(), "the failed Dagster run"),
        _col("job", pa.string(), "its job"),
        _col("partition_key", pa.string(), "a partition it covered (empty if unpartitioned)"),
        _col("failed_steps", pa.string(), "steps that failed, comma-separated"),
        _col("error", pa.string(), "the failure message"),
        _col("failed_at", pa.timestamp("us", tz="UTC"), "when the failure was recorded (UTC)"),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "scores": SCORES_SCHEMA,
    "deviations": DEVIATIONS_SCHEMA,
    "steps": STEPS_SCHEMA,
    "rejected_videos": REJECTED_SCHEMA,
    "failed_runs": FAILED_RUNS_SCHEMA,
}


def step_rows(steps: tuple[Step, ...], **columns: Any) -> list[dict[str, Any]]:
    """The ``steps`` rows of one gold video; ``columns`` say whose they are."""
    return [
        {
            **columns,
            "step": s.index,
            "start_sec": s.start_sec,
            "end_sec": s.end_sec,
            "step_name": s.label,
        }
        for s in steps
    ]


def rejected_row(
    task_id: str, role: str, video: str, key: str, reason: str, rejected_at: datetime
) -> dict[str, Any]:
    """The ``rejected_videos`` row of one refused file."""
    return {
        "task_id": task_id,
        "role": role,
        "video": video,
        "partition_key": key,
        "reason": reason,
        "rejected_at": rejected_at,
    }


def score_row(result: ScoreResult, num_gold_steps: int, **columns: Any) -> dict[str, Any]:
    """The ``scores`` row of one result; ``columns`` say whose it is and when."""
    c = result.counts
    return {
        **columns,
        "score": result.score,
        "num_gold_steps": num_gold_steps,
        "num_missing": c["missing_step"],
        "num_swapped": c["swapped_step"],
        "num_over_time": c["over_time"],
        "num_extra": c["extra_step"],
        "alignment_cost": result.mean_cost,
    }


def deviation_rows(
    result: ScoreResult, clips: list[tuple[str | None, str | None]], **columns: Any
) -> list[dict[str, Any]]:
    """The ``deviations`` rows of one result, each with its (trainee, gold) clip paths."""
    return [
        {
            **columns,
            "type": d.type,
            "gold_step": d.gold_step,
            "gold_start_sec": d.gold_start_sec,
            "gold_end_sec": d.gold_end_sec,
            "trainee_start_sec": d.trainee_start_sec,
            "trainee_end_sec": d.trainee_end_sec,
            "severity": d.severity,
            "detail": d.detail,
            "trainee_clip": trainee_clip,
            "gold_clip": gold_clip,
            "step_name": d.step_name,
        }
        for d, (trainee_clip, gold_clip) in zip(result.deviations, clips, strict=True)
    ]


def write_table(path: Path, rows: list[dict], schema: pa.Schema) -> Path:
    """Atomically replace ``path`` with ``rows`` (an empty list writes an empty table)."""
    table = pa.Table.from_pylist(rows, schema=schema)
    return atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))


def read_table(path: Path) -> pa.Table:
    return pq.read_table(path, partitioning=None)


def table_rows(tables_dir: Path, table: str) -> list[dict]:
    """Every row of one table (``<tables_dir>/<table>/task_id=*/*.parquet``), file by file."""
    folder = tables_dir / table
    rows: list[dict] = []
    for path in sorted(folder.glob("*/*.parquet")) if folder.is_dir() else []:
        rows.extend(read_table(path).to_pylist())
    return rows
