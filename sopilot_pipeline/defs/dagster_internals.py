"""The few parts of Dagster's private API this code location needs, in one place.

Each is here because no public name does the job (Dagster 1.13); when one gains a
public home, this is the only import to change.

- Range tags: a run over a range of partitions is asked for, and read back, by these
  tags; Dagster's own backfills use them.
- Partition tag: a failed single-partition run names its partition by it.
- Data-version tags: the last asset of a video's chain records what it was made from
  on each partition's materialisation (``core.store.provenance``), which Dagster reads back
  as that partition's data version.
- A check verdict's target materialisation: without it the UI counts a per-partition
  check verdict logged by the asset itself as not run.
- The default run launcher and in-progress statuses: to tell whether a daemon-launched
  run's worker process is still alive (``defs/orphans.py``).
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.data_version import (
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "DATA_VERSION_IS_USER_PROVIDED_TAG",
    "DATA_VERSION_TAG",
    "IN_PROGRESS_RUN_STATUSES",
    "PARTITION_NAME_TAG",
    "AssetCheckEvaluationTargetMaterializationData",
    "DefaultRunLauncher",
]
