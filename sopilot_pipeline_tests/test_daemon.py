"""The daemon path and ``process`` share one record of what is done: either after the other
launches nothing, from any working folder; a killed ``process`` blocks nothing.

Real ``dagster-daemon`` and real ``sopilot-pipeline process`` subprocesses on one
embedded instance, run from a folder that is neither the instance's nor the data's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from sopilot_pipeline.defs.orphans import worker_pid
from sopilot_pipeline_tests.process_group import running

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TASK = "assemble_valve"


@dataclass
class Setup:
    home: Path
    data: Path
    elsewhere: Path  # the working folder of every command: must stay empty

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home), "SOPILOT_DATA_DIR": str(self.data)}

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))

    def runs(self, **tags: str) -> list:
        with self.instance() as instance:
            return instance.get_runs(RunsFilter(tags=tags or None))

    def work_runs(self) -> list:
        """Runs that process videos or train: not the hourly summaries the automation
        sensor materialises when a cron tick passes (a test can straddle one)."""
        hourly = {"task_summary", "clip_index"}
        return [
            r
            for r in self.runs()
            if not r.asset_selection
            or not {k.to_user_string() for k in r.asset_selection} <= hourly
        ]

    def audit_records(self) -> int:
        log = self.data / "audit" / "audit_log.jsonl"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def scored(self) -> set[str]:
        folder = self.data / "tables" / "scores"
        return {p.stem for p in folder.rglob("*.parquet")} if folder.is_dir() else set()


def _setup(tmp_path: Path, demo_watch: Path, trainees: tuple[str, ...]) -> Setup:
    setup = Setup(tmp_path / "home", tmp_path / "data", tmp_path / "elsewhere")
    for folder in (setup.home, setup.elsewhere):
        folder.mkdir()
    shutil.copy(REPO / "dagster.yaml", setup.home / "dagster.yaml")
    source = demo_watch / TASK
    (setup.data / "watch" / TASK / "trainee").mkdir(parents=True)
    shutil.copytree(source / "gold", setup.data / "watch" / TASK / "gold")
    for name in trainees:
        shutil.copy(source / "trainee" / name, setup.data / "watch" / TASK / "trainee" / name)
    return setup


def _process(setup: Setup) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "sopilot-pipeline"), "process"],
        cwd=setup.elsewhere,
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _daemon(setup: Setup, log: Path) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """``dagster-daemon run`` on the setup's instance, in a process group of its own."""
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")]
    return running(command, log, setup.elsewhere, setup.env)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)


def _sensor_ticks(log: Path) -> int:
    return log.read_text().count("Checking for new runs for sensor: watch_folder_sensor")


def _settled(setup: Setup) -> bool:
    with setup.instance() as instance:
        return not instance.get_runs(
            RunsFilter(
                statuses=[
                    DagsterRunStatus.QUEUED,
                    DagsterRunStatus.NOT_STARTED,
                    DagsterRunStatus.STARTING,
                    DagsterRunStatus.STARTED,
                ]
            )
        )


def test_daemon_after_process_launches_nothing(tmp_path: Path, demo_watch: Path) -> None:
    setup = _setup(tmp_path, demo_watch, ("clean_1.mp4", "missing_step_3.mp4"))
    first = _process(setup)
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(setup.scored()) == 2
    runs, audit = len(setup.runs()), setup.audit_records()
    log = tmp_path / "daemon.log"
    with _daemon(setup, log):
        # the first tick sees the files, the next ones find them done
        _wait_for(lambda: _sensor_ticks(log) >= 3, 150, "three sensor ticks")
        time.sleep(5)  # a run launched by the last tick would be recorded by now
    assert len(setup.work_runs()) == runs, log.read_text()[-3000:]
    assert setup.audit_records() == audit
    assert list(setup.elsewhere.iterdir()) == []  # the instance lives in DAGSTER_HOME
    assert (setup.home / "history" / "runs.db").exists()


def test_process_after_the_daemon_launches_nothing(tmp_path: Path, demo_watch: Path) -> None:
    trainees = ("clean_1.mp4", "missing_step_3.mp4", "swapped_steps_2_3.mp4")
    setup = _setup(tmp_path, demo_watch, trainees)
    log = tmp_path / "daemon.log"
    with _daemon(setup, log):
        _wait_for(lambda: len(setup.scored()) == 3, 420, "the daemon to score 3 trainees")
        _wait_for(lambda: _settled(setup), 120, "the daemon's runs to finish")
    # the sensor batches as process does: one gold run, the first adapter, then the three
    # trainees in one range run (scored once, in the adapter)
    by_sensor = setup.runs(**{"dagster/sensor_name": "watch_folder_sensor"})
    assert sorted(r.job_name for r in by_sensor) == [
        "ingest_gold_video",
        "score_trainee_video",
        "train_feature_adapter",
    ]
    runs, audit = len(setup.work_runs()), setup.audit_records()
    again = _process(setup)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "runs: 0 succeeded, 0 failures; 4 videos already done earlier" in again.stdout
    assert len(setup.work_runs()) == runs and setup.audit_records() == audit, log.read_text()[
        -2000:
    ]
    assert list(setup.elsewhere.iterdir()) == []


def _kill_process_mid_run(setup: Setup) -> None:
    """Start ``process`` and SIGKILL it while one of its runs is in progress."""
    before = {r.run_id for r in setup.runs(**{"sopilot/launched_by": "process"})}
    proc = subprocess.Popen(
        [str(BIN / "sopilot-pipeline"), "process"],
        cwd=setup.elsewhere,
        env=setup.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def running() -> bool:
        runs = setup.runs(**{"sopilot/launched_by": "process"})
        return any(r.run_id not in before and r.status == DagsterRunStatus.STARTED for r in runs)

    try:
        _wait_for(running, 120, "a run of process to start")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_runs_of_a_killed_process_block_nothing(tmp_path: Path, demo_watch: Path) -> None:
    setup = _setup(tmp_path, demo_watch, ("clean_1.mp4",))
    _kill_process_mid_run(setup)
    _kill_process_mid_run(setup)  # two slots of max_concurrent_runs: 2 taken, as reported
    new = setup.data / "watch" / TASK / "trainee" / "late arrival.mp4"
    shutil.copy(demo_watch / TASK / "trainee" / "clean_2.mp4", new)
    started = time.monotonic()
    log = tmp_path / "daemon.log"
    with _daemon(setup, log):
        _wait_for(
            lambda: any(k.startswith("assemble_valve__late_arrival") for k in setup.scored()),
            120,
            "the new file to be scored",
        )
    assert time.monotonic() - started < 120
    assert "marked failed: sopilot-pipeline process pid" in log.read_text()
    stuck = [
        r
        for r in setup.runs(**{"sopilot/launched_by": "process"})
        if r.status == DagsterRunStatus.STARTED
    ]
    assert stuck == []


def test_runs_left_by_a_killed_daemon_are_failed_and_retried(
    tmp_path: Path, demo_watch: Path
) -> None:
    """Daemon, code server and run worker SIGKILLed together (an OOM kill, a power cut):
    nothing is left to report the run failed, and the default run launcher has no worker
    health check. The next daemon's sensor finds the dead worker, reports the run failed,
    and the run retry finishes the work."""
    setup = _setup(tmp_path, demo_watch, ("clean_1.mp4", "clean_2.mp4", "missing_step_3.mp4"))
    killed: list[tuple[str, int]] = []

    def a_running_worker() -> bool:
        with setup.instance() as instance:
            for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
                pid = worker_pid(instance, run)
                if pid.isdigit():
                    killed.append((run.run_id, int(pid)))
                    return True
        return False

    with _daemon(setup, tmp_path / "first.log") as daemon:
        _wait_for(a_running_worker, 180, "a run worker")
        os.killpg(daemon.pid, signal.SIGKILL)
        ((run_id, pid),) = killed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # should it have left the daemon's process group
    with setup.instance() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
    log = tmp_path / "second.log"
    with _daemon(setup, log):
        _wait_for(lambda: len(setup.scored()) == 3, 300, "the trainees to be scored")
    assert f"marked failed: run worker pid {pid} that ran it is gone" in log.read_text()
    with setup.instance() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
