"""``task_summary``: per task, how trainees score and what goes wrong most often.

Read from the score and deviation tables (so it summarises whatever is there, however
it got there) and written to ``tables/task_summary/task_summary.parquet``. ``process``
refreshes it after a pass that scored something; under the daemon it refreshes hourly.
"""

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.store.embeddings import scan_table
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.defs.asset_keys import TASK_SUMMARY, TRAINEE_SCORE
from sopilot_pipeline.defs.resources import SopilotSettings

BINS = [0, 20, 40, 60, 80, 100]


def summarise_tasks(layout: DataLayout) -> pl.DataFrame:
    """One row per task: trainees, score statistics and histogram, top deviations."""
    scores = scan_table(layout, "scores")
    if scores is None:
        return pl.DataFrame()
    bucket = pl.col("score").clip(0, 99.999).floordiv(20).cast(pl.Int32)
    stats = (
        scores.group_by("task_id")
        .agg(
            pl.len().alias("trainees"),
            pl.col("score").mean().alias("mean_score"),
            pl.col("score").median().alias("median_score"),
            pl.col("score").min().alias("min_score"),
            pl.col("score").max().alias("max_score"),
            *[(bucket == b).sum().alias(f"scores_{b * 20}_{b * 20 + 20}") for b in range(5)],
        )
        .collect()
    )
    devs = scan_table(layout, "deviations")
    if devs is None:
        return stats.with_columns(pl.lit("").alias("top_deviations")).sort("task_id")
    top = (
        devs.with_columns(
            pl.when(pl.col("gold_step").is_null())
            .then(pl.col("type"))
            .otherwise(pl.format("{} step {}", pl.col("type"), pl.col("gold_step") + 1))
            .alias("what")
        )
        .group_by("task_id", "what")
        .agg(pl.len().alias("n"))
        .sort(["task_id", "n", "what"], descending=[False, True, False])
        .group_by("task_id", maintain_order=True)
        .agg(pl.format("{} (×{})", "what", "n").head(3).str.join(", ").alias("top_deviations"))
        .collect()
    )
    return (
        stats.join(top, on="task_id", how="left")
        .with_columns(pl.col("top_deviations").fill_null(""))
        .sort("task_id")
    )


def _markdown(summary: pl.DataFrame) -> str:
    lines = [
        "| task | trainees | mean | median | min–max | scores per 20 points | most frequent |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.iter_rows(named=True):
        histogram = " ".join(str(r[f"scores_{b}_{b + 20}"]) for b in BINS[:-1])
        lines.append(
            f"| {r['task_id']} | {r['trainees']} | {r['mean_score']:.1f} | "
            f"{r['median_score']:.1f} | {r['min_score']:.0f}–{r['max_score']:.0f} | "
            f"{histogram} | {r['top_deviations'] or '-'} |"
        )
    return "\n".join(lines)


@asset(
    name=TASK_SUMMARY,
    group_name="analytics",
    deps=[AssetDep(TRAINEE_SCORE, partition_mapping=AllPartitionMapping())],
    automation_condition=AutomationCondition.cron_tick_passed("0 * * * *")
    & ~AutomationCondition.in_progress(),
    kinds={"parquet"},
    description="Per task: trainees scored, score statistics and histogram, and the most "
    "frequent deviations (tables/task_summary).",
)
def task_summary(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    layout = settings.layout
    summary = summarise_tasks(layout)
    path = layout.tables / "task_summary" / "task_summary.parquet"
    atomic_write_with(path, lambda tmp: summary.write_parquet(tmp))
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(summary),
            "trainees_scored": int(summary["trainees"].sum()) if len(summary) else 0,
            "summary": MetadataValue.md(_markdown(summary) if len(summary) else "no scores yet"),
            "table": MetadataValue.path(str(path)),
        }
    )
