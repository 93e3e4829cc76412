"""On a GPU a range run's trainees are searched together: every round of every trainee
and gold is one kernel launch. Run here through the whole pipeline with the launch
done by the kernel's scheme on the CPU (no GPU on these machines): the scores and
deviations are those of the CPU run of the same videos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance

from sopilot_pipeline.core.scoring import step_alignment
from sopilot_pipeline.defs import align as scoring_defs
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder
from sopilot_pipeline_tests.conftest import PipelineRun
from sopilot_pipeline_tests.test_edit_totals_gpu import _emulated_device


def _table(data: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(str(data / f"tables/{name}/**/*.parquet"), hive_partitioning=True)


def test_a_range_run_searches_its_trainees_in_lockstep_with_the_cpu_answers(
    demo_watch: Path, pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches: list[int] = []

    def device(costs: list[np.ndarray]):  # noqa: ANN202 - the emulated round totals
        emulated = _emulated_device(costs)
        launch = emulated._launch

        def counted(
            pair_of: np.ndarray, sources: list[np.ndarray], extra_cost: float
        ) -> np.ndarray:
            launches.append(len(set(pair_of.tolist())))
            return launch(pair_of, sources, extra_cost)

        emulated._launch = counted  # type: ignore[method-assign]
        return emulated.round_totals

    monkeypatch.setattr(scoring_defs, "lockstep_available", lambda: True)
    monkeypatch.setattr(step_alignment, "batch_totals_for", device)
    data = tmp_path / "data"
    shutil.copytree(demo_watch, data / "watch")
    home = tmp_path / "home"
    home.mkdir()
    outcome = process_watch_folder(
        settle_seconds=0.1,
        settings=SopilotSettings(data_dir=str(data)),
        instance=DagsterInstance.local_temp(str(home)),
    )
    assert not outcome.failed_runs
    assert launches and max(launches) > 2  # pairs of several trainees in one launch

    keys = ["trainee_video", "gold_video", "score", "alignment_cost"]
    cpu = _table(pipeline_run.data, "scores").select(keys)
    gpu = _table(data, "scores").select(keys)
    assert gpu.height > 3
    mine = pl.col("trainee_video").is_in(gpu["trainee_video"].to_list())
    assert gpu.sort("trainee_video").equals(cpu.filter(mine).sort("trainee_video"))
    columns = ["trainee_video", "type", "gold_step", "trainee_start_sec", "severity"]
    cpu_dev = _table(pipeline_run.data, "deviations").select(columns)
    gpu_dev = _table(data, "deviations").select(columns)
    assert gpu_dev.sort(columns).equals(cpu_dev.filter(mine).sort(columns))
