"""Runs whose process was killed: marked failed, so they never block later runs.

``process`` runs its work in its own Python process, with no run launcher or worker for
Dagster to watch; killed (SIGKILL, a reboot) it leaves its run STARTED forever, holding
one of ``max_concurrent_runs`` slots, and the daemon would queue every new run behind
such runs. Each run ``process`` makes carries its pid and host; a run whose process is
gone is reported failed by the next ``process`` or the next watch-sensor tick, and its
videos, not being done, are planned again.
"""

from __future__ import annotations

import os
import socket

from dagster import DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

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


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Report failed each in-progress run of a ``process`` on this host that is gone;
    one line per run."""
    host = socket.gethostname()
    said = []
    records = instance.get_run_records(
        RunsFilter(statuses=list(IN_PROGRESS_RUN_STATUSES), tags={LAUNCHED_BY: "process"})
    )
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit():
            continue
        if int(pid) == os.getpid() or _alive(int(pid)):
            continue
        why = f"sopilot-pipeline process pid {pid} that ran it is gone (killed?)"
        instance.report_run_failed(run, message=why)
        said.append(f"run {run.run_id[:8]} ({run.job_name}) marked failed: {why}")
    return said
