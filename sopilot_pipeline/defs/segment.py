"""gold_steps: a gold video's steps, authored in a sidecar or detected, in tables/steps.

The steps are what every trainee of the task is explained against; their data version
is the gold's content, embedder, sidecar and masking (``core.store.provenance``), so a
changed sidecar re-scores the task's trainees.
"""

from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AutomationCondition, MetadataValue, asset

from sopilot_pipeline.core.embed.registry import feature_groups
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.segment.authored_steps import (
    SidecarError,
    authored_gold_steps,
    authored_source,
    read_sidecar,
    sidecar_path,
)
from sopilot_pipeline.core.segment.steps import Step, detect_gold_steps
from sopilot_pipeline.core.store.embeddings import load_clip_series
from sopilot_pipeline.core.store.layout import DataLayout, write_json
from sopilot_pipeline.core.store.provenance import gold_version
from sopilot_pipeline.core.store.tables import STEPS_SCHEMA, step_rows, write_table
from sopilot_pipeline.defs.asset_keys import GOLD_CLIP_EMBEDDINGS, GOLD_STEPS
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Rejected
from sopilot_pipeline.defs.partitions import gold_videos
from sopilot_pipeline.defs.rejected import rejection_recorder
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata
from sopilot_pipeline.defs.work import partition_reason


@asset(
    name=GOLD_STEPS,
    partitions_def=gold_videos,
    group_name="gold_videos",
    deps=[GOLD_CLIP_EMBEDDINGS],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet"},
    metadata=column_schema_metadata("steps"),
    description="Steps of a gold video: authored in `<stem>.steps.csv` beside the video "
    "(names and weights), else detected (SOPILOT_STEP_METHOD, by default the returns to "
    "the rest pose the video opens in, or kernel change points; named `step 1`, "
    "`step 2`, ...); written to tables/steps. A bad sidecar rejects the gold with the "
    "line at fault.",
)
def gold_steps(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    batch = PartitionBatch(context, on_rejected=rejection_recorder(context, layout, "gold"))

    def segment(key: str) -> dict[str, Any]:
        metadata, batch.versions[key] = segment_gold(layout, key, settings)
        return {**metadata, "reason": partition_reason(context.run.tags, key)}

    batch.run(segment)
    yield from batch.results()


def segment_gold(
    layout: DataLayout, key: str, settings: SopilotSettings
) -> tuple[dict[str, Any], str]:
    """One gold's steps written to tables/steps; the partition's metadata and data version."""
    series, meta = load_clip_series(layout, "gold", key)
    task_id = meta["task_id"]
    video = layout.watch / task_id / "gold" / meta["video"]
    steps, sidecar_sha256 = _authored_steps(layout, key, meta, video, series)
    source = authored_source(video) if steps else "detected"
    if steps is None:
        steps = detect_gold_steps(
            series.vectors,
            series.start_sec,
            series.end_sec,
            feature_groups(meta["embedder"]),
            settings.step_detection,
        )
    details = {"source": source, "sidecar_sha256": sidecar_sha256}
    write_json(layout.gold_step_details(key), {**details, "weights": [s.weight for s in steps]})
    rows = step_rows(steps, task_id=task_id, gold_video=meta["video"])
    write_table(layout.table_file("steps", task_id, key), rows, STEPS_SCHEMA)
    version = gold_version(
        meta["sha256"], meta["embedder"], sidecar_sha256, meta.get("privacy_mask", "none")
    )
    return {
        "task_id": task_id,
        "num_steps": len(steps),
        "step_source": source,
        "steps": MetadataValue.md(_steps_table(steps)),
        "dagster/row_count": len(rows),
    }, version


def _authored_steps(
    layout: DataLayout, key: str, meta: dict[str, Any], video: Path, series: ClipSeries
) -> tuple[tuple[Step, ...] | None, str | None]:
    """The steps of the gold's sidecar (None: it has none) and the sidecar's hash; a bad
    sidecar rejects the gold and removes the steps of an earlier, good one."""
    try:
        authored, sidecar_sha256 = read_sidecar(video, meta.get("duration_sec"))
        steps = authored_gold_steps(authored, series.start_sec) if authored else None
    except SidecarError as exc:
        layout.table_file("steps", meta["task_id"], key).unlink(missing_ok=True)
        layout.gold_step_details(key).unlink(missing_ok=True)
        reason = f"steps sidecar {sidecar_path(video).name}: {exc}"
        raise Rejected(reason, meta["task_id"], meta["video"]) from exc
    return steps, sidecar_sha256


def _steps_table(steps: tuple[Step, ...]) -> str:
    header = "| step | name | start (s) | end (s) | weight |\n|---|---|---|---|---|\n"
    return header + "\n".join(
        f"| {s.index + 1} | {_md_cell(s.label)} | {s.start_sec:.1f} | {s.end_sec:.1f} "
        f"| {s.weight:g} |"
        for s in steps
    )


def _md_cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
