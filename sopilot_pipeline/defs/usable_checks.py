"""Whether each video got through registration and embedding: one check per step.

``video_is_readable`` (registration) and ``video_decodes`` (embedding) are evaluated by
the assets themselves, once per partition, failing (a warning) with the reason a video
was rejected; run from the UI with the asset, they read the step's output and the
rejection table.
"""

from collections.abc import Callable
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.defs.asset_keys import CLIP_EMBEDDINGS, VIDEO
from sopilot_pipeline.defs.partitions import PARTITIONS_BY_ROLE
from sopilot_pipeline.defs.rejected import rejected_rows
from sopilot_pipeline.defs.resources import SopilotSettings

READABLE_CHECK = "video_is_readable"
DECODES_CHECK = "video_decodes"


USABLE_CHECK_DESCRIPTION = (
    "Per video: passes when the video got through this step, fails (a warning) with the "
    "reason when it was rejected here; the reasons are also rows of tables/rejected_videos. "
    "The asset evaluates it for every video it handles; run with the asset (the UI's "
    "Materialize), the check also reads the step's output and the rejection table."
)


def build_usable_checks(role: str) -> list[AssetChecksDefinition]:
    """``video_is_readable`` (registration) and ``video_decodes`` (embedding) per partition.

    Dagster wants every check in an asset's ``check_specs`` answered once per step, for a
    range as a whole; a rejection belongs to one video's partition, so the assets log one
    evaluation per partition (``PartitionBatch.checked_results``) for these checks,
    which are defined apart and left out of the pipeline's jobs.
    """
    return [
        _usable_check(role, VIDEO[role], READABLE_CHECK, lambda lay, k: lay.registration(role, k)),
        _usable_check(
            role, CLIP_EMBEDDINGS[role], DECODES_CHECK, lambda lay, k: lay.clip_meta(role, k)
        ),
    ]


def _usable_check(
    role: str, asset_name: str, check_name: str, output: Callable[[DataLayout, str], Path]
) -> AssetChecksDefinition:
    """``output(layout, key)``: the file the step writes for a video it did not reject."""

    @asset_check(
        asset=asset_name,
        name=check_name,
        partitions_def=PARTITIONS_BY_ROLE[role],
        description=USABLE_CHECK_DESCRIPTION,
    )
    def usable(context: AssetCheckExecutionContext, settings: SopilotSettings) -> AssetCheckResult:
        layout = settings.layout
        reasons = {r["partition_key"]: r["reason"] for r in rejected_rows(layout)}
        keys = list(context.op_execution_context.partition_keys)
        problems = {
            k: reasons.get(k, "not done yet") for k in keys if not output(layout, k).exists()
        }
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "videos_checked": len(keys),
                **({"rejected": problems[keys[0]]} if len(keys) == 1 and problems else {}),
                "problems": MetadataValue.md(
                    "\n".join(f"- `{k}`: {r}" for k, r in problems.items()) or "none"
                ),
            },
        )

    return usable


def usable_check_keys() -> list[AssetCheckKey]:
    """The checks the pipeline's assets evaluate themselves (left out of its jobs)."""
    return [
        AssetCheckKey(AssetKey(assets[role]), name)
        for role in PARTITIONS_BY_ROLE
        for assets, name in ((VIDEO, READABLE_CHECK), (CLIP_EMBEDDINGS, DECODES_CHECK))
    ]
