"""Inputs as recorded: a phone's rotation metadata and low or high frame rates score
like the same performance filmed upright at the usual rate (real pipeline, rendered)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance

from sopilot_pipeline.core.harness.demo import (
    DEMO_TASKS,
    Variant,
    make_task,
    render_variant,
    standard_variants,
)
from sopilot_pipeline.core.video.decode import decode_video, frames_at, probe_video
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder

TASK_ID, NUM_STEPS, SEED = DEMO_TASKS[0]
NUISANCE = {"jitter_px": 1.0, "noise": 2.0}

# (file name, fps, display rotation): every one is the same clean performance
RECORDINGS = [
    ("upright_15fps.mp4", 15, 0),
    ("phone_rotated_cw.mp4", 15, -90),
    ("phone_rotated_ccw.mov", 15, 90),
    ("upside_down.mp4", 15, 180),
    ("slow_camera_1fps.mp4", 1, 0),
    ("slow_camera_5fps.mp4", 5, 0),
    ("fast_camera_60fps.mp4", 60, 0),
    ("fast_camera_120fps.mkv", 120, 0),
]


def test_rotated_video_decodes_upright_everywhere(tmp_path: Path) -> None:
    task = make_task("t", 3, 4)
    plan = Variant("v", tuple((s, 1.0) for s in range(3)))
    render_variant(task, plan, tmp_path / "up.mp4", 10, (160, 96), 1)
    render_variant(task, plan, tmp_path / "rot.mp4", 10, (160, 96), 1, display_rotation=-90)
    probe = probe_video(tmp_path / "rot.mp4")
    assert (probe.width, probe.height, probe.rotation) == (160, 96, 270)
    up = decode_video(tmp_path / "up.mp4", 4, (80, 48))
    rot = decode_video(tmp_path / "rot.mp4", 4, (80, 48))
    assert rot.frames.shape == up.frames.shape == (len(up.times), 48, 80, 3)
    assert rot.probe.rotation == 270 and (rot.probe.width, rot.probe.height) == (160, 96)
    assert np.abs(rot.frames.astype(float) - up.frames.astype(float)).mean() < 2.0
    # sideways would not match: the check above can fail
    sideways = np.rot90(rot.frames, 1, axes=(1, 2))[:, :48, :48]
    assert np.abs(sideways.astype(float) - up.frames[:, :48, :48].astype(float)).mean() > 5.0
    (k_up,), (k_rot,) = (frames_at(tmp_path / n, [1.0], (80, 48)) for n in ("up.mp4", "rot.mp4"))
    assert np.abs(k_up.astype(float) - k_rot.astype(float)).mean() < 2.0
    # deviation clips are written upright, at the display size
    from sopilot_pipeline.core.outputs.clips import cut_clip

    for name in ("up", "rot"):
        cut_clip(tmp_path / f"{name}.mp4", tmp_path / f"{name}_clip.mp4", 1.0, 2.0)
    clip = probe_video(tmp_path / "rot_clip.mp4")
    assert (clip.width, clip.height, clip.rotation) == (160, 96, 0)
    up_clip, rot_clip = (
        decode_video(tmp_path / f"{n}_clip.mp4", 4, (80, 48)).frames.astype(float)
        for n in ("up", "rot")
    )
    n = min(len(up_clip), len(rot_clip))
    assert n >= 4 and np.abs(up_clip[:n] - rot_clip[:n]).mean() < 3.0


@pytest.mark.parametrize("fps", [1, 3, 5, 60])
def test_sampling_rate_does_not_depend_on_the_recording_rate(tmp_path: Path, fps: int) -> None:
    task = make_task("t", 3, 4)
    plan = Variant("v", tuple((s, 1.0) for s in range(3)))
    meta = render_variant(task, plan, tmp_path / "v.mp4", fps, (96, 64), 1)
    sampled = decode_video(tmp_path / "v.mp4", 4, (48, 32))
    steps = np.diff(sampled.times)
    assert np.allclose(steps, 0.25, atol=1 / max(fps, 4) + 1e-6)
    assert sampled.times[-1] >= meta["duration_sec"] - 0.5


def test_rotated_and_low_or_high_fps_recordings_score_like_upright_30fps(tmp_path: Path) -> None:
    task = make_task(TASK_ID, NUM_STEPS, SEED)
    watch = tmp_path / "data" / "watch" / TASK_ID
    gold = Variant("gold", tuple((s, 1.0) for s in range(NUM_STEPS)))
    render_variant(task, gold, watch / "gold" / "gold.mp4", 30, (320, 240), SEED, **NUISANCE)
    clean = next(v for v in standard_variants(task, SEED + 1) if v.name == "clean_1")
    for i, (name, fps, rotation) in enumerate(RECORDINGS):
        render_variant(
            task,
            clean,
            watch / "trainee" / name,
            fps,
            (320, 240),
            SEED + 200 + i,
            display_rotation=rotation,
            **NUISANCE,
        )
    settings = SopilotSettings(data_dir=str(tmp_path / "data"))
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    assert outcome.failed_runs == []
    data = tmp_path / "data" / "tables"
    scores = pl.read_parquet(str(data / "scores/**/*.parquet"), hive_partitioning=True)
    by_name = dict(zip(scores["trainee_video"], scores["score"], strict=True))
    assert set(by_name) == {name for name, _, _ in RECORDINGS}
    reference = by_name["upright_15fps.mp4"]
    deviations = pl.read_parquet(str(data / "deviations/**/*.parquet"), hive_partitioning=True)
    found = {
        name: sorted(deviations.filter(pl.col("trainee_video") == name)["type"].to_list())
        for name in by_name
    }
    print({n: (by_name[n], found[n]) for n in by_name})
    assert all(not devs for devs in found.values()), found
    for name, score in by_name.items():
        assert score >= reference - 5.0, (name, score, reference)
