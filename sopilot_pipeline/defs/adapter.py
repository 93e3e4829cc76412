"""The feature adapter: trained from all gold embeddings, nightly when enough are new."""

import time
from datetime import UTC, datetime

import numpy as np
from dagster import (
    AssetExecutionContext,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    schedule,
)

from sopilot_pipeline.core.embed.adapter import fit_feature_adapter, save_feature_adapter
from sopilot_pipeline.core.embed.registry import feature_groups
from sopilot_pipeline.core.store.embeddings import all_gold_embeddings, current_adapter
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.defs.asset_keys import FEATURE_ADAPTER, GOLD_CLIP_EMBEDDINGS
from sopilot_pipeline.defs.resources import SopilotSettings


def new_gold_videos_since_last_adapter(layout: DataLayout, embedder: str) -> tuple[int, int]:
    """(gold videos available, how many of them the current adapter has not seen)."""
    golds = all_gold_embeddings(layout, embedder)
    adapter = current_adapter(layout, embedder)
    seen = adapter.num_videos if adapter else 0
    return len(golds), max(0, len(golds) - seen)


def adapter_training_due(layout: DataLayout, embedder: str, min_new: int) -> tuple[bool, str]:
    total, new = new_gold_videos_since_last_adapter(layout, embedder)
    if total == 0:
        return False, "no gold embeddings yet"
    if current_adapter(layout, embedder) is None:
        return True, f"no adapter yet; {total} gold videos available"
    if new >= max(1, min_new):
        return True, f"{new} new gold videos (threshold {min_new})"
    return False, f"{new} new gold videos, fewer than SOPILOT_TRAINING_MIN_NEW_VIDEOS={min_new}"


@asset(
    name=FEATURE_ADAPTER,
    group_name="training",
    deps=[GOLD_CLIP_EMBEDDINGS],
    kinds={"numpy"},
    description="Z-score mean/std over all gold clip embeddings of the current embedder, "
    "saved as a new versioned `models/feature_adapter_<embedder>_<ts>.npz`.",
)
def feature_adapter(context: AssetExecutionContext, settings: SopilotSettings) -> MaterializeResult:
    layout = settings.layout
    embedder = settings.embedder.name
    golds = all_gold_embeddings(layout, embedder)
    if not golds:
        raise ValueError(f"no gold embeddings for embedder {embedder!r} to train an adapter on")
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version = f"{embedder}_{stamp}"
    adapter = fit_feature_adapter(
        [v for _, v in golds], version=version, embedder=embedder, groups=feature_groups(embedder)
    )
    path = layout.adapter_file(embedder, stamp)
    save_feature_adapter(adapter, path)
    context.log.info(f"trained adapter {version} on {adapter.num_videos} gold videos")
    return MaterializeResult(
        metadata={
            "version": version,
            "embedder": embedder,
            "gold_videos": adapter.num_videos,
            "clips": adapter.num_clips,
            "dim": adapter.dim,
            "fit_seconds": round(time.perf_counter() - started, 3),
            "summary": MetadataValue.md(
                f"z-score adapter **{version}** for `{embedder}`: mean and spread of "
                f"{adapter.num_clips} clips from {adapter.num_videos} gold videos, "
                f"{adapter.dim} dimensions; median spread {float(np.median(adapter.std)):.4f}"
            ),
            "path": MetadataValue.path(str(path)),
        }
    )


adapter_job = define_asset_job("train_feature_adapter", selection=[feature_adapter])


@schedule(
    job=adapter_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def nightly_adapter_training(context: ScheduleEvaluationContext, settings: SopilotSettings):
    """Retrain at 02:00 only when enough new gold videos arrived."""
    due, why = adapter_training_due(
        settings.layout, settings.embedder.name, settings.training_min_new_videos
    )
    if not due:
        return SkipReason(why)
    return RunRequest(run_key=None, tags={"sopilot/reason": why})
