"""The ``rejected_videos`` asset: every file the pipeline refused, and why, in one place.

Registration and embedding steps write a row to ``tables/rejected_videos`` and log an
observation on this asset at the moment they reject a file, so each rejection shows in
the asset's event log as it happens. Materialising the asset (``process`` does it when
the count changed) summarises the table.
"""

from collections import Counter

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from sopilot_pipeline.defs.ingest import rejected_rows
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata

REJECTED_ASSET = "rejected_videos"


@asset(
    name=REJECTED_ASSET,
    group_name="operations",
    kinds={"parquet"},
    metadata=column_schema_metadata("rejected_videos"),
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
