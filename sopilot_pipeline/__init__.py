"""SOPilot pipeline: SOP video scoring as a Dagster asset graph."""

__version__ = "0.1.0"
