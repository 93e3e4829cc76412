"""Dagster's share of a 32-video range run through Celery against in-process.

    python benchmarks/celery_share.py [--trainees 32 --seconds 10]

One task: a 1280x720 30 fps H.264 render as the gold and, hard-linked under other names,
every trainee (``pipeline_scale.hd_footage``). ``process`` first registers and scores
them all on a PostgreSQL instance (a fresh database; a throwaway Redis broker from
Debian's ``redis-server``). Then the trainee job is re-run over the whole range twice
on the same videos: in-process (``execute_in_process``, what ``process`` does) and
through the Celery executor with one worker (``dagster-celery worker start``, one task
at a time, like the in-process run). For each, ``ms`` is the run's wall time,
``work_ms`` the pipeline's own per-partition work in that run (``work_seconds`` of its
materialisations) and ``dagster_share = (ms - work_ms) / ms``. ``ratio`` is Celery's
wall time over in-process's.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from dagster import DagsterInstance  # noqa: E402
from pipeline_scale import PER_VIDEO_ASSETS, hd_footage  # noqa: E402

from sopilot_pipeline.defs.resources import SopilotSettings  # noqa: E402
from sopilot_pipeline.process import process_watch_folder  # noqa: E402
from sopilot_pipeline_tests.postgres_server import postgres_database  # noqa: E402
from sopilot_pipeline_tests.redis_server import redis_server  # noqa: E402

RANGE_RUN = """
import sys, time
from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage import tags
repo = ReconstructableRepository.for_module("sopilot_pipeline.definitions", "defs")
job = repo.get_reconstructable_job("score_trainee_video")
range_tags = {
    tags.ASSET_PARTITION_RANGE_START_TAG: sys.argv[2],
    tags.ASSET_PARTITION_RANGE_END_TAG: sys.argv[3],
}
instance = DagsterInstance.get()
t0 = time.perf_counter()
if sys.argv[1] == "celery":
    with execute_job(job, instance=instance, tags=range_tags) as result:
        ok, run_id = result.success, result.run_id
else:
    result = job.get_definition().execute_in_process(instance=instance, tags=range_tags)
    ok, run_id = result.success, result.run_id
print(run_id, time.perf_counter() - t0)
sys.exit(0 if ok else 1)
"""


def run_work_seconds(instance: DagsterInstance, run_id: str) -> float:
    """``work_seconds`` of one run's steps (a range run's summary counted once a step)."""
    from dagster import AssetKey

    seen, total = set(), 0.0
    for name in PER_VIDEO_ASSETS:
        records = instance.fetch_materializations(AssetKey(name), limit=10_000).records
        for record in records:
            if record.run_id != run_id:
                continue
            metadata = record.asset_materialization.metadata
            if "work_seconds" not in metadata:
                continue
            if "step_seconds" in metadata:
                step = record.event_log_entry.step_key or name
                if step in seen:
                    continue
                seen.add(step)
            total += float(metadata["work_seconds"].value)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as url, redis_server() as redis:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        data = root / "data"
        hd_footage(data / "watch", args.trainees, args.seconds)
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "DAGSTER_HOME": str(home),
            "SOPILOT_POSTGRES_URL": url,
            "SOPILOT_DATA_DIR": str(data),
            "SOPILOT_EXECUTOR": "celery",
            "SOPILOT_CELERY_BROKER": f"{redis}/0",
            "SOPILOT_CELERY_BACKEND": f"{redis}/1",
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
        }
        os.environ.update(env)
        instance = DagsterInstance.get()
        outcome = process_watch_folder(
            settle_seconds=0.1, settings=SopilotSettings.from_env(), instance=instance
        )
        if outcome.failed_runs:
            print(outcome.failed_runs, file=sys.stderr)
            return 1
        keys = sorted(instance.get_dynamic_partitions("trainee_videos"))
        worker = subprocess.Popen(
            [
                str(bin_dir / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(ROOT / "deploy" / "celery.yaml"),
                "-q",
                "dagster",
                "-n",
                "bench",
                "--",
                "--pool",
                "solo",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        rows = {}
        try:
            time.sleep(5)  # the worker's start, not part of a run
            for engine in ("in_process", "celery"):
                done = subprocess.run(
                    [sys.executable, "-c", RANGE_RUN, engine, keys[0], keys[-1]],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                )
                if done.returncode:
                    print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
                    return 1
                run_id, seconds = done.stdout.split()[-2:]
                ms = float(seconds) * 1e3
                work_ms = run_work_seconds(instance, run_id) * 1e3
                rows[engine] = {
                    "ms": round(ms),
                    "work_ms": round(work_ms),
                    "dagster_share": round((ms - work_ms) / ms, 3),
                }
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
    print(
        json.dumps(
            {
                "case": f"range-run-{len(keys)}-trainees-{args.seconds:g}s-720p",
                **{f"{k}_{m}": v for k, row in rows.items() for m, v in row.items()},
                "ratio": round(rows["celery"]["ms"] / rows["in_process"]["ms"], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
