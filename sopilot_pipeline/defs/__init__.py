"""The Dagster code location: ``Definitions`` for the SOPilot asset graph."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
)

from sopilot_pipeline.defs.adapter import adapter_job, feature_adapter, nightly_adapter_training
from sopilot_pipeline.defs.align import trainee_alignment
from sopilot_pipeline.defs.checks import (
    trainee_alignment_is_a_valid_path,
    trainee_embeddings_are_finite,
)
from sopilot_pipeline.defs.failures import record_failed_runs
from sopilot_pipeline.defs.ingest import build_video_assets
from sopilot_pipeline.defs.rejections import rejected_video, rejected_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.retention import apply_retention_policy, retention_schedule
from sopilot_pipeline.defs.score import trainee_score
from sopilot_pipeline.defs.search import clip_index
from sopilot_pipeline.defs.segment import gold_steps
from sopilot_pipeline.defs.sensors import gold_job, trainee_job, watch_folder_sensor
from sopilot_pipeline.defs.summary import task_summary
from sopilot_pipeline.defs.usable_checks import build_usable_checks

GPU_POOL = "gpu"  # its limit (1) is set in dagster.yaml: concurrency.pools.default_limit

automation_sensor = AutomationConditionSensorDefinition(
    "sopilot_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


def build_definitions(settings: SopilotSettings | None = None) -> Definitions:
    """Definitions with settings from the environment unless given (tests pass their own)."""
    settings = settings or SopilotSettings.from_env()
    pool = GPU_POOL if settings.uses_gpu_pool else None
    tags = settings.embedding_step_tags
    return Definitions(
        assets=[
            *build_video_assets("gold", pool, tags),
            *build_video_assets("trainee", pool, tags),
            gold_steps,
            feature_adapter,
            trainee_alignment,
            trainee_score,
            rejected_videos,
            rejected_video,
            task_summary,
            clip_index,
        ],
        asset_checks=[
            *build_usable_checks("gold"),
            *build_usable_checks("trainee"),
            trainee_embeddings_are_finite,
            trainee_alignment_is_a_valid_path,
        ],
        jobs=[gold_job, trainee_job, adapter_job, apply_retention_policy],
        sensors=[watch_folder_sensor, automation_sensor, record_failed_runs],
        schedules=[nightly_adapter_training, retention_schedule],
        resources={"settings": settings},
        executor=settings.executor_def,
    )
