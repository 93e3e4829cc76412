"""Opt-in data retention: a daily job that deletes raw video copies older than
``SOPILOT_RETENTION_DAYS`` (0, the default, keeps everything) and leaves scores, reports,
embeddings and the audit log alone. Its schedule starts stopped: turn it on in the UI."""

import socket
from datetime import UTC, datetime

from dagster import (
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from sopilot_pipeline.core.store.audit import append_audit_record
from sopilot_pipeline.core.store.retention import apply_retention
from sopilot_pipeline.defs.resources import SopilotSettings


@op(description="Delete raw video copies older than SOPILOT_RETENTION_DAYS days.")
def delete_expired_raw_videos(context: OpExecutionContext, settings: SopilotSettings):
    days = settings.retention_days
    if days <= 0:
        context.log.info("retention is off (SOPILOT_RETENTION_DAYS=0): nothing deleted")
        yield Output(0, metadata={"deleted": 0, "retention_days": days})
        return
    now = datetime.now(UTC)
    result = apply_retention(settings.layout, days, now)
    if result.deleted:
        append_audit_record(
            settings.layout.audit_log,
            {
                "event": "retention",
                "who": {"host": socket.gethostname(), "run_id": context.run_id},
                "retention_days": days,
                "deleted_raw_videos": list(result.deleted),
                "bytes_freed": result.bytes_freed,
                "at": now.isoformat(),
            },
        )
    context.log.info(f"deleted {len(result.deleted)} raw videos older than {days} days")
    yield Output(
        len(result.deleted),
        metadata={
            "deleted": len(result.deleted),
            "kept": result.kept,
            "mb_freed": round(result.bytes_freed / 1e6, 1),
            "retention_days": days,
            "files": MetadataValue.md("\n".join(f"- `{n}`" for n in result.deleted) or "none"),
        },
    )


@job(description="Delete raw videos past the retention period; scores and audit stay.")
def apply_retention_policy() -> None:
    delete_expired_raw_videos()


retention_schedule = ScheduleDefinition(
    name="daily_retention",
    job=apply_retention_policy,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,  # opt-in
    description="Daily at 03:30 UTC: apply SOPILOT_RETENTION_DAYS to raw videos.",
)
