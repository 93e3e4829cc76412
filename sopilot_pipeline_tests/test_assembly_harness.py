"""The second evaluation harness: its structure, its seeds and its renderer's truth."""

from __future__ import annotations

from pathlib import Path

from sopilot_pipeline.core.harness.assembly_harness import (
    EVALUATION_SEEDS,
    FRESH_TUNING_SEEDS,
    STEP_DETECTION_SEEDS,
    TUNING_SEEDS,
    _render,
    assembly_render_jobs,
)
from sopilot_pipeline.core.video.decode import decode_video, probe_video


def test_tuning_and_evaluation_seeds_are_apart() -> None:
    assert not set(TUNING_SEEDS) & set(EVALUATION_SEEDS)
    assert not set(STEP_DETECTION_SEEDS) & (set(TUNING_SEEDS) | set(EVALUATION_SEEDS))
    seen = set(TUNING_SEEDS) | set(STEP_DETECTION_SEEDS) | set(EVALUATION_SEEDS)
    assert not set(FRESH_TUNING_SEEDS) & seen


def test_two_gold_tasks_differ_in_one_free_pair_and_swaps_avoid_it(tmp_path: Path) -> None:
    jobs = assembly_render_jobs(str(tmp_path), num_tasks=4, seed=TUNING_SEEDS[0])
    tasks = sorted({j.task_id for j in jobs})
    assert len(tasks) == 4
    for t, task in enumerate(tasks):
        golds = [j for j in jobs if j.task_id == task and j.role == "gold"]
        trainees = [j for j in jobs if j.task_id == task and j.role == "trainee"]
        assert len(golds) == (2 if t % 2 else 1)
        assert {j.performance.deviations for j in trainees if j.name.startswith("clean")} == {()}
        kinds = {d["type"] for j in trainees for d in j.deviations}
        assert kinds == {"missing_step", "swapped_step", "over_time", "extra_step"}
        # every trainee is another person before another camera
        assert len({(j.actor, j.camera) for j in trainees}) == len(trainees)
        assert all(j.camera.shift != (0.0, 0.0) for j in trainees)
        if len(golds) == 2:
            a = [s for s, _ in golds[0].performance.plan]
            b = [s for s, _ in golds[1].performance.plan]
            diff = [i for i in range(len(a)) if a[i] != b[i]]
            assert len(diff) == 2 and diff[1] == diff[0] + 1
            free = set(diff)
            clean_orders = {
                tuple(s for s, _ in j.performance.plan)
                for j in trainees
                if j.name.startswith("clean")
            }
            assert tuple(b) in clean_orders  # one clean trainee follows the second gold
            swap = next(j for j in trainees if j.name.startswith("swapped"))
            step = swap.deviations[0]["gold_step"]
            assert not {step, step + 1} & free


def test_render_truth_covers_the_video(tmp_path: Path) -> None:
    jobs = assembly_render_jobs(str(tmp_path), num_tasks=1, seed=TUNING_SEEDS[1])
    job = next(j for j in jobs if j.name.startswith("missing"))
    path, truth = _render(job)
    probe = probe_video(Path(path))
    assert abs(probe.duration_sec - truth["duration_sec"]) < 0.2
    segments = truth["segments"]
    assert segments[0]["start_sec"] == 0.0
    assert all(a["end_sec"] == b["start_sec"] for a, b in zip(segments, segments[1:], strict=False))
    assert [s["gold_step"] for s in segments] == [s for s, _ in job.performance.plan]
    assert all(1.5 <= s["end_sec"] - s["start_sec"] <= 5.5 for s in segments)
    assert len(decode_video(Path(path), 4, (96, 72)).frames) >= 4 * truth["duration_sec"] - 1
