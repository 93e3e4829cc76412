"""Clip search: a gold step is found where each trainee performed it."""

from __future__ import annotations

import numpy as np
import pytest

from sopilot_pipeline.cli import main
from sopilot_pipeline.core.store.embeddings import gold_keys_for_task, load_steps
from sopilot_pipeline.core.store.search import (
    build_clip_index,
    load_clip_index,
    query_from_span,
    search,
)
from sopilot_pipeline_tests.conftest import PipelineRun


def _truth_step(segments: list[dict], start: float, end: float) -> int:
    """The true step at the middle of a found clip."""
    mid = (start + end) / 2
    for seg in segments:
        if seg["start_sec"] <= mid < seg["end_sec"]:
            return seg["gold_step"]
    return -1


def test_a_gold_step_is_found_in_the_trainees_that_did_it(pipeline_run: PipelineRun) -> None:
    layout = pipeline_run.settings.layout
    embedder = pipeline_run.settings.embedder.name
    index = load_clip_index(layout.index, embedder)
    assert len(index.videos) == 12  # 2 golds and 10 trainees
    correct = total = 0
    for task, info in pipeline_run.truth.items():
        (gold,) = gold_keys_for_task(layout, task, embedder)
        steps = load_steps(layout, task, gold)
        for step in steps:
            # the true gold step under this detected step's middle
            true_step = _truth_step(info["gold"]["segments"], step.start_sec, step.end_sec)
            query = query_from_span(index, gold, step.start_sec, step.end_sec)
            hits = search(index, query, k=5, exclude_key=gold)
            assert all(h.partition_key != gold for h in hits)
            for hit in hits:
                if hit.task_id != task:
                    continue
                segments = info["trainees"][hit.video]["segments"]
                total += 1
                correct += _truth_step(segments, hit.start_sec, hit.end_sec) == true_step
    assert total >= 40
    assert correct / total >= 0.8, (correct, total)


def test_search_command_prints_the_nearest_videos(
    pipeline_run: PipelineRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOPILOT_DATA_DIR", pipeline_run.settings.data_dir)
    assert main(["search", "--task", "assemble_valve", "--step", "2", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "step 2 of 'assemble_valve'" in out and "nearest of" in out
    assert len([ln for ln in out.splitlines() if ln.startswith("  ")]) == 3
    assert main(["search", "--task", "assemble_valve", "--step", "99"]) == 2


def test_search_is_exact_and_one_hit_per_video() -> None:
    rng = np.random.default_rng(0)
    entries = [
        (
            {"key": f"v{i}", "role": "trainee", "task_id": "t", "video": f"v{i}.mp4"},
            rng.standard_normal((50, 16)).astype(np.float32),
            np.arange(50) * 0.5,
            np.arange(50) * 0.5 + 1.0,
        )
        for i in range(20)
    ]
    index = build_clip_index(entries, "e", "a")
    query = index.vectors[7 * 50 + 13]
    hits = search(index, query, k=5)
    assert hits[0].partition_key == "v7" and hits[0].start_sec == pytest.approx(6.5)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({h.partition_key for h in hits}) == 5
    best_per_video = [float((index.vectors[index.video == v] @ query).max()) for v in range(20)]
    assert [h.score for h in hits] == pytest.approx(sorted(best_per_video, reverse=True)[:5])
