"""The Dagster code location (``workspace.yaml``, ``[tool.dagster]``): settings from the
``SOPILOT_*`` environment, validated when Dagster loads it.

Kept apart from ``sopilot_pipeline.defs`` so that importing the Dagster layer (the CLI,
tests) never reads the environment as a side effect.
"""

from sopilot_pipeline.defs import build_definitions

defs = build_definitions()
