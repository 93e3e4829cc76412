"""Runs whose process was killed: marked failed, so they never block later runs.

A run whose process dies (SIGKILL, out of memory, a reboot) stays STARTED forever,
holding one of ``max_concurrent_runs`` slots: the daemon would queue every new run
behind such runs. Dagster's run monitoring cannot see it with the default run launcher
(it has no worker health check), so the next ``process`` and every watch-sensor tick
look for them: a run ``process`` made carries its pid and host as tags; a run the
daemon launched locally names its worker's pid in its "Started process" engine event.
One whose process is gone is reported failed (the daemon's run retries then re-run it)
and its videos, not being done, are planned again.
"""

from __future__ import annotations

import os
import socket

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from sopilot_pipeline.defs.dagster_internals import (
    IN_PROGRESS_RUN_STATUSES,
    DefaultRunLauncher,
)

LAUNCHED_BY = "sopilot/launched_by"
PID_TAG = "sopilot/pid"
HOST_TAG = "sopilot/host"


def process_run_tags() -> dict[str, str]:
    """Tags of a run ``process`` makes: who runs it, so that its death can be told."""
    return {LAUNCHED_BY: "process", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def worker_pid(instance: DagsterInstance, run: DagsterRun) -> str:
    """The pid of a run's own process: its tag (``process``), else the one a local run
    worker logs when it starts; "" when unknown or not on this host."""
    if run.tags.get(LAUNCHED_BY) == "process":
        return run.tags.get(PID_TAG, "") if run.tags.get(HOST_TAG) == socket.gethostname() else ""
    if run.status != DagsterRunStatus.STARTED:
        return ""
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return ""  # workers elsewhere (Celery, Kubernetes): their launcher watches them
    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None:
            return str(pid.value)
    return ""


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Report failed each in-progress run whose process on this host is gone; one line
    per run."""
    said = []
    for record in instance.get_run_records(RunsFilter(statuses=list(IN_PROGRESS_RUN_STATUSES))):
        run = record.dagster_run
        pid = worker_pid(instance, run)
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        who = "sopilot-pipeline process" if run.tags.get(LAUNCHED_BY) else "run worker"
        why = f"{who} pid {pid} that ran it is gone (killed?)"
        instance.report_run_failed(run, message=why)
        said.append(f"run {run.run_id[:8]} ({run.job_name}) marked failed: {why}")
    return said
