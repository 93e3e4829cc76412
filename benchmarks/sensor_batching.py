"""The daemon path against ``process`` on the same drop: runs launched and wall time.

    python benchmarks/sensor_batching.py [--trainees 104]

One task: the demo gold and ``--trainees`` trainee videos (hard links of one demo
trainee under other names) dropped at once. ``daemon``: a real ``dagster-daemon`` on a
fresh embedded instance, timed from its start until every trainee is scored and no run
is in progress (sensor interval and settling included: what a user waits for).
``process``: ``sopilot-pipeline process`` on a fresh copy of the drop. Prints one JSON
line per path and one with ``ratio = daemon_ms / process_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef

from sopilot_pipeline.core.harness.demo import write_demo_set

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def drop(demo: Path, root: Path, trainees: int) -> tuple[Path, Path]:
    """A fresh data root holding the drop, and a fresh DAGSTER_HOME."""
    data, home = root / "data", root / "home"
    task = data / "watch" / "assemble_valve"
    shutil.copytree(demo / "assemble_valve" / "gold", task / "gold")
    (task / "trainee").mkdir(parents=True)
    source = demo / "assemble_valve" / "trainee" / "clean_1.mp4"
    for i in range(trainees):
        os.link(source, task / "trainee" / f"trainee {i:03d}.mp4")
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return data, home


def _scored(data: Path) -> int:
    return len(list((data / "tables" / "scores").rglob("*.parquet")))


def _runs(home: Path) -> tuple[Counter, bool]:
    """Runs by job, and whether any is still in progress."""
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        runs = instance.get_runs()
        busy = bool(instance.get_runs(RunsFilter(statuses=IN_PROGRESS)))
    return Counter(r.job_name for r in runs), busy


def via_daemon(data: Path, home: Path, trainees: int, timeout: float) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(home), "SOPILOT_DATA_DIR": str(data)}
    started = time.perf_counter()
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if _scored(data) == trainees and not _runs(home)[1]:
                break
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"daemon: {_scored(data)} of {trainees} scored after {timeout} s")
            time.sleep(2)
        ms = (time.perf_counter() - started) * 1e3
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(60)
    jobs, _ = _runs(home)
    return {"ms": round(ms), "runs_by_job": dict(jobs), "runs": sum(jobs.values())}


def via_process(data: Path, home: Path) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(home), "SOPILOT_DATA_DIR": str(data)}
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "sopilot-pipeline"), "process"], env=env, check=True, capture_output=True
    )
    ms = (time.perf_counter() - started) * 1e3
    jobs, _ = _runs(home)
    return {"ms": round(ms), "runs_by_job": dict(jobs), "runs": sum(jobs.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=104)
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sopilot-batching-") as tmp:
        demo = Path(tmp) / "demo"
        write_demo_set(demo)
        daemon = via_daemon(
            *drop(demo, Path(tmp) / "d", args.trainees), args.trainees, args.timeout
        )
        data, home = drop(demo, Path(tmp) / "p", args.trainees)
        process = via_process(data, home)
        assert _scored(data) == args.trainees
    for name, result in (("daemon", daemon), ("process", process)):
        print(json.dumps({"case": f"{name}-{args.trainees}-trainees", **result}))
    print(
        json.dumps({"case": "daemon-vs-process", "ratio": round(daemon["ms"] / process["ms"], 2)})
    )


if __name__ == "__main__":
    main()
