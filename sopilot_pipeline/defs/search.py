"""``clip_index``: every embedded clip of every video, searchable by similarity.

Rebuilt from the embeddings on disk in the current adapter's space, one index per
embedder. ``sopilot-pipeline search`` answers "where in which video does this step
happen?" from it.
"""

import time

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sopilot_pipeline.core.store.embeddings import (
    all_gold_embeddings,
    current_adapter,
    task_fallback_adapter,
)
from sopilot_pipeline.core.store.layout import DataLayout, read_json
from sopilot_pipeline.core.store.search import ClipIndex, build_clip_index, save_clip_index
from sopilot_pipeline.defs.asset_keys import (
    CLIP_INDEX,
    FEATURE_ADAPTER,
    GOLD_CLIP_EMBEDDINGS,
    TRAINEE_CLIP_EMBEDDINGS,
)
from sopilot_pipeline.defs.resources import SopilotSettings


def build_index_from_layout(layout: DataLayout, embedder: str) -> ClipIndex | None:
    """The index in the current adapter's space; None before there is any gold video
    (no adapter, and none can be fitted: the index waits for one)."""
    adapter = current_adapter(layout, embedder)
    if adapter is None:
        golds = [v for _, v in all_gold_embeddings(layout, embedder)]
        if not golds:
            return None
        adapter = task_fallback_adapter(golds, embedder)
    entries = []
    for role in ("gold", "trainee"):
        folder = layout.embeddings / role
        for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            meta = read_json(meta_path)
            vectors_path = meta_path.with_suffix(".npy")
            if meta.get("embedder") != embedder or not vectors_path.exists():
                continue
            info = {
                "key": meta_path.stem,
                "role": role,
                "task_id": meta["task_id"],
                "video": meta["video"],
            }
            vectors = adapter.apply(np.load(vectors_path))
            entries.append(
                (info, vectors, np.asarray(meta["start_sec"]), np.asarray(meta["end_sec"]))
            )
    return build_clip_index(entries, embedder, adapter.version)


@asset(
    name=CLIP_INDEX,
    group_name="analytics",
    deps=[
        AssetDep(GOLD_CLIP_EMBEDDINGS, partition_mapping=AllPartitionMapping()),
        AssetDep(TRAINEE_CLIP_EMBEDDINGS, partition_mapping=AllPartitionMapping()),
        FEATURE_ADAPTER,
    ],
    automation_condition=AutomationCondition.cron_tick_passed("15 * * * *")
    & ~AutomationCondition.in_progress(),
    kinds={"numpy"},
    output_required=False,
    description="Exact cosine-similarity index over every clip of every video (current "
    "embedder and adapter): `index/clip_index_<embedder>.npz`. Query it with "
    "`sopilot-pipeline search`.",
)
def clip_index(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    started = time.perf_counter()
    index = build_index_from_layout(layout, settings.embedder.name)
    if index is None:
        context.log.info("no gold video yet: the clip index waits for one (nothing written)")
        return
    path = save_clip_index(index, layout.index)
    yield MaterializeResult(
        metadata={
            "clips": len(index.vectors),
            "videos": len(index.videos),
            "dim": int(index.vectors.shape[1]),
            "embedder": index.embedder,
            "adapter_version": index.adapter_version,
            "build_seconds": round(time.perf_counter() - started, 3),
            "size_mb": round(path.stat().st_size / 1e6, 2),
            "index": MetadataValue.path(str(path)),
        }
    )
