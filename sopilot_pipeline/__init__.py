"""SOPilot pipeline: SOP video scoring as a Dagster asset graph."""

import warnings

__version__ = "0.1.0"

# Dagster's notices about the two beta/preview features we use on purpose (backfill
# policies for range runs, partitioned asset checks) would otherwise fill `dagster dev`
# logs on every code load and run; matched by message, so others still show.
for _message in (
    r"Parameter `backfill_policy` of function `asset` is currently in beta",
    r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
):
    warnings.filterwarnings("ignore", message=_message)
