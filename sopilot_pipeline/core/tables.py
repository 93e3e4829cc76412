"""Parquet table schemas (declared once) and atomic, replace-not-append writes.

One file per partition in a hive layout (``task_id=<t>/<key>.parquet``): polars and
DuckDB read all files with hive partitioning; re-materialising replaces the file.
``task_id`` lives in the path and, for readers that skip hive columns, in the rows too.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sopilot_pipeline.core.atomic import atomic_write_with

SCORES_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("trainee_video", pa.string()),
        ("gold_video", pa.string()),
        ("score", pa.float64()),
        ("num_gold_steps", pa.int32()),
        ("num_missing", pa.int32()),
        ("num_swapped", pa.int32()),
        ("num_over_time", pa.int32()),
        ("num_extra", pa.int32()),
        ("alignment_cost", pa.float64()),
        ("embedder", pa.string()),
        ("adapter_version", pa.string()),
        ("pipeline_version", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        # appended: the first registered video with byte-identical content, if another
        ("duplicate_of", pa.string()),
    ]
)

DEVIATIONS_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("trainee_video", pa.string()),
        ("gold_video", pa.string()),
        ("type", pa.string()),
        ("gold_step", pa.int32()),
        ("gold_start_sec", pa.float64()),
        ("gold_end_sec", pa.float64()),
        ("trainee_start_sec", pa.float64()),
        ("trainee_end_sec", pa.float64()),
        ("severity", pa.float64()),
        ("detail", pa.string()),
        # short MP4s cut around the deviation, relative to the data root (null if none)
        ("trainee_clip", pa.string()),
        ("gold_clip", pa.string()),
        # the gold step's name: authored (watch/<task>/gold/<stem>.steps.csv) or "step N"
        ("step_name", pa.string()),
    ]
)

STEPS_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("gold_video", pa.string()),
        ("step", pa.int32()),
        ("start_sec", pa.float64()),
        ("end_sec", pa.float64()),
        ("step_name", pa.string()),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("role", pa.string()),
        ("video", pa.string()),
        ("partition_key", pa.string()),
        ("reason", pa.string()),
        ("rejected_at", pa.timestamp("us", tz="UTC")),
    ]
)

FAILED_RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job", pa.string()),
        ("partition_key", pa.string()),
        ("failed_steps", pa.string()),
        ("error", pa.string()),
        ("failed_at", pa.timestamp("us", tz="UTC")),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "scores": SCORES_SCHEMA,
    "deviations": DEVIATIONS_SCHEMA,
    "steps": STEPS_SCHEMA,
    "rejected_videos": REJECTED_SCHEMA,
    "failed_runs": FAILED_RUNS_SCHEMA,
}


def write_table(path: Path, rows: list[dict], schema: pa.Schema) -> Path:
    """Atomically replace ``path`` with ``rows`` (an empty list writes an empty table)."""
    table = pa.Table.from_pylist(rows, schema=schema)
    return atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))


def read_table(path: Path) -> pa.Table:
    return pq.read_table(path, partitioning=None)
