"""Recording a refused video: a row in ``tables/rejected_videos``, an observation on the
video's asset, its own ``rejected_video`` partition, and the table's row count.

A per-partition function refuses a video by raising ``batch.Rejected``; the asset's
``PartitionBatch`` records it here (``rejection_recorder``), once, with the reason.
"""

import functools
from collections.abc import Callable
from datetime import UTC, datetime

from dagster import AssetExecutionContext, AssetKey, AssetMaterialization, AssetObservation

from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.core.store.tables import (
    REJECTED_SCHEMA,
    rejected_row,
    table_rows,
    write_table,
)
from sopilot_pipeline.defs.asset_keys import REJECTED_VIDEO, REJECTED_VIDEOS, VIDEO
from sopilot_pipeline.defs.batch import Rejected
from sopilot_pipeline.defs.partitions import rejected_video_partitions


def rejected_rows(layout: DataLayout) -> list[dict]:
    return table_rows(layout.tables, REJECTED_VIDEOS)


def rejection_recorder(
    context: AssetExecutionContext, layout: DataLayout, role: str
) -> Callable[[str, Rejected], None]:
    """``PartitionBatch.on_rejected`` of an asset handling ``role`` videos."""
    return functools.partial(record_rejection, context, layout, role)


def record_rejection(
    context: AssetExecutionContext, layout: DataLayout, role: str, key: str, refused: Rejected
) -> None:
    task_id, video, reason = refused.task_id, refused.video, refused.reason
    context.log.warning(f"rejected {role} video {video!r} of task {task_id!r}: {reason}")
    row = rejected_row(task_id, role, video, key, reason, datetime.now(UTC))
    write_table(layout.table_file(REJECTED_VIDEOS, task_id, key), [row], REJECTED_SCHEMA)
    details = {"status": "rejected", "reason": reason, "video": video, "task_id": task_id}
    context.log_event(
        AssetObservation(asset_key=AssetKey(VIDEO[role]), partition=key, metadata=details)
    )
    # the video's own page: a partition of rejected_video that says why (its role's
    # partition is removed by the next sensor tick or process pass, defs/work.py)
    context.instance.add_dynamic_partitions(rejected_video_partitions.name, [key])
    context.log_event(
        AssetMaterialization(
            asset_key=AssetKey(REJECTED_VIDEO),
            partition=key,
            metadata={"rejected": reason, "task_id": task_id, "role": role, "video": video},
        )
    )
    # rejected_videos is a table of these rows: each rejection materialises it, so the
    # Catalog lists it with its row count under the daemon as under `process`
    rows = len(list((layout.tables / REJECTED_VIDEOS).glob("*/*.parquet")))
    metadata = {**details, "role": role, "partition_key": key, "dagster/row_count": rows}
    context.log_event(AssetMaterialization(asset_key=AssetKey(REJECTED_VIDEOS), metadata=metadata))
