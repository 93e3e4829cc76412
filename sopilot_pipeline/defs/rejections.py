"""Refused videos: ``rejected_videos``, every file the pipeline refused and why in one
table, and ``rejected_video``, one partition per refused file.

Registration and embedding steps write a row to ``tables/rejected_videos`` at the
moment they reject a file and materialise both: the table (row count) and the file's
own ``rejected_video`` partition, whose metadata says ``rejected: <reason>``. The
sensor (or ``process``) then takes the file out of its role's partitions, so a task
whose other videos are fine shows as fully materialised, and puts it back when the
file changes. Materialising ``rejected_videos`` (``process`` does it when the count
changed) summarises the table.
"""

from collections import Counter

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from sopilot_pipeline.defs.asset_keys import REJECTED_VIDEO, REJECTED_VIDEOS
from sopilot_pipeline.defs.partitions import rejected_video_partitions
from sopilot_pipeline.defs.rejected import rejected_rows
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata


@asset(
    name=REJECTED_VIDEOS,
    group_name="operations",
    kinds={"parquet"},
    metadata=column_schema_metadata(REJECTED_VIDEOS),
    description="Videos refused by the pipeline with the reason (tables/rejected_videos). "
    "Each rejection is observed here when it happens; materialise for a summary.",
)
def rejected_videos(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    rows = sorted(rejected_rows(settings.layout), key=lambda r: r["rejected_at"], reverse=True)
    by_reason = Counter(r["reason"] for r in rows)
    recent = "\n".join(
        f"| {r['rejected_at']:%Y-%m-%d %H:%M} | {r['task_id']} | {r['role']} | "
        f"`{r['video']}` | {r['reason']} |"
        for r in rows[:50]
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "by_reason": MetadataValue.md(
                "\n".join(f"- {n} × {reason}" for reason, n in by_reason.most_common()) or "none"
            ),
            "latest": MetadataValue.md(
                "| when (UTC) | task | role | video | reason |\n|---|---|---|---|---|\n" + recent
            ),
        }
    )


@asset(
    name=REJECTED_VIDEO,
    partitions_def=rejected_video_partitions,
    group_name="operations",
    kinds={"video"},
    description="One partition per refused video (its watch-folder key): materialised "
    "when the video is rejected, with `rejected: <reason>`, its task, role and file. The "
    "video leaves its role's partitions meanwhile; a changed file is tried again.",
)
def rejected_video(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    key = context.partition_key
    rows = [r for r in rejected_rows(settings.layout) if r["partition_key"] == key]
    if not rows:
        raise Failure(f"{key!r} is not rejected (any more)")
    row = rows[0]
    return MaterializeResult(
        metadata={
            "rejected": row["reason"],
            "task_id": row["task_id"],
            "role": row["role"],
            "video": row["video"],
        }
    )
