"""The score job on Celery workers: a throwaway Redis broker, the PostgreSQL instance, a
CPU worker (queue ``dagster``) and a GPU worker (queue ``gpu``), both started with the
``dagster-celery`` command the README gives operators. Two range runs at once: every
embedding step runs on the GPU worker, one at a time; every other step on the CPU
worker; scores and deviations equal an in-process run of the same videos."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterEventType, DagsterInstance

from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder
from sopilot_pipeline_tests.postgres_server import postgres_database
from sopilot_pipeline_tests.range_runs import run_ranges
from sopilot_pipeline_tests.redis_server import redis_server

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

RANGE_RUN = """
import sys
from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage import tags
repo = ReconstructableRepository.for_module("sopilot_pipeline.definitions", "defs")
job = repo.get_reconstructable_job("score_trainee_video")
with execute_job(
    job,
    instance=DagsterInstance.get(),
    tags={
        tags.ASSET_PARTITION_RANGE_START_TAG: sys.argv[1],
        tags.ASSET_PARTITION_RANGE_END_TAG: sys.argv[2],
    },
) as result:
    print(result.run_id)
    sys.exit(0 if result.success else 1)
"""


def _table(data: Path, name: str, columns: list[str]) -> pl.DataFrame:
    frame = pl.read_parquet(str(data / f"tables/{name}/**/*.parquet"), hive_partitioning=True)
    return frame.select(columns).sort(columns)


def _worker(name: str, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster-celery worker start`` in a session of its own (it runs ``celery`` as a
    child), one task at a time, named ``name@<host>``."""
    return subprocess.Popen(
        [
            str(BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(REPO / "deploy" / "celery.yaml"),
            "-q",
            queue,
            "-n",
            name,
            "--",
            "--pool",
            "solo",
        ],
        env=env,
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def _steps_by_worker(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that executed it (from the worker's engine event)."""
    out = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        metadata = getattr(data, "metadata", None) or {}
        if "Celery worker" in metadata:
            out[record.step_key] = str(metadata["Celery worker"].value)
    return out


def _spans(instance: DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    times = {
        record.dagster_event.event_type: record.timestamp
        for record in instance.all_logs(
            run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
        )
        if record.step_key == step and record.dagster_event
    }
    return times[DagsterEventType.STEP_START], times[DagsterEventType.STEP_SUCCESS]


def test_score_runs_on_celery_workers_with_a_gpu_queue(
    demo_watch: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with postgres_database() as url, redis_server() as redis:
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        data = tmp_path / "data"
        shutil.copytree(demo_watch / "pack_first_aid_kit", data / "watch" / "pack_first_aid_kit")
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO),
            "DAGSTER_HOME": str(home),
            "SOPILOT_POSTGRES_URL": url,
            "SOPILOT_DATA_DIR": str(data),
            "SOPILOT_EMBEDDER": "vjepa2",  # a GPU embedder: its steps go to the gpu queue
            "SOPILOT_VJEPA2_MODEL": str(tiny_model),
            "SOPILOT_DEVICE": "auto",
            "SOPILOT_EXECUTOR": "celery",
            "SOPILOT_CELERY_BROKER": f"{redis}/0",
            "SOPILOT_CELERY_BACKEND": f"{redis}/1",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        instance = DagsterInstance.get()
        settings = SopilotSettings.from_env()
        assert settings.executor_def.name == "celery" and settings.uses_gpu_pool

        # the reference: the same videos scored in this process
        outcome = process_watch_folder(settle_seconds=0.1, settings=settings, instance=instance)
        assert outcome.failed_runs == []
        columns = ["trainee_video", "gold_video", "score", "alignment_cost", "num_missing"]
        deviation_columns = ["trainee_video", "type", "gold_step", "trainee_start_sec", "severity"]
        scores = _table(data, "scores", columns)
        deviations = _table(data, "deviations", deviation_columns)
        keys = instance.get_dynamic_partitions("trainee_videos")
        assert len(keys) == 5

        workers = {
            name: _worker(name, queue, env, tmp_path / f"{name}.log")
            for name, queue in (("cpu", "dagster"), ("gpu", "gpu"))
        }
        try:
            ranges = [(keys[0], keys[1]), (keys[2], keys[4])]
            done = run_ranges(RANGE_RUN, ranges, env)
        finally:
            for worker in workers.values():
                _stop(worker)
        logs = "\n".join((tmp_path / f"{n}.log").read_text()[-2000:] for n in workers)
        assert [rc for rc, _ in done] == [0, 0], "\n".join(o[-3000:] for _, o in done) + logs
        run_ids = [out.strip().splitlines()[-1] for _, out in done]

        embedding = "trainee_clip_embeddings"
        for run_id in run_ids:
            placed = _steps_by_worker(instance, run_id)
            assert embedding in placed and len(placed) >= 4, placed
            for step, worker in placed.items():
                assert worker.startswith("gpu@" if step == embedding else "cpu@"), (step, worker)
        first, second = sorted(_spans(instance, r, embedding) for r in run_ids)
        assert first[1] <= second[0]  # one GPU step at a time

        assert _table(data, "scores", columns).equals(scores)
        assert _table(data, "deviations", deviation_columns).equals(deviations)
