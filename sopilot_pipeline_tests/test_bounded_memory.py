"""Long videos in bounded memory, with the answers of the whole-matrix computations.

The step contrast (median cost between clips of different gold steps) and the rest pose
(the clip the video keeps returning to) compare every clip with every other: for a
60-minute video that was a 7,200 x 7,200 matrix and its copies (0.4-0.8 GB). Both now go
in row blocks; these tests check they give the same numbers as one block (what they
computed before) and that a long video's peak allocation stays small."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sopilot_pipeline.core.base.blockwise import exact_median, row_blocks
from sopilot_pipeline.core.scoring import explain
from sopilot_pipeline.core.scoring.explain import step_contrast
from sopilot_pipeline.core.segment import steps
from sopilot_pipeline.core.segment.steps import Step, rest_pose_distance


def _procedure(n: int, k: int, seed: int) -> tuple[np.ndarray, tuple[Step, ...]]:
    """Clips of k steps, returning to a rest pose between them, with noise."""
    rng = np.random.default_rng(seed)
    rest, looks = rng.normal(size=32), rng.normal(size=(k, 32))
    edges = np.linspace(0, n, k + 1).astype(int)
    x = np.empty((n, 32))
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        x[a:b] = looks[s]
        x[a : a + 2] = rest
    x += rng.normal(scale=0.3, size=x.shape)
    return x.astype(np.float32), tuple(
        Step(s, int(a), int(b), a * 0.5, b * 0.5)
        for s, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    )


@pytest.mark.parametrize("seed", range(30))
def test_the_median_of_blocks_is_numpys_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=int(rng.integers(1, 5000))).astype(np.float32)
    if seed % 3 == 0:
        values = np.round(values, 1)  # many ties, some straddling the middle ranks
    parts = np.split(values, np.sort(rng.integers(0, len(values), size=int(rng.integers(1, 7)))))
    assert exact_median(lambda: iter(parts)) == np.median(values)


def test_row_blocks_cover_every_row_once_and_never_one_row_alone() -> None:
    for n in range(1, 300):
        for most in (2, 3, 7, 64, 1024):
            blocks = row_blocks(n, most)
            covered = np.concatenate([np.arange(n)[b] for b in blocks])
            assert np.array_equal(covered, np.arange(n))
            assert all(b.stop - b.start <= max(most, 3) for b in blocks)
            assert len(blocks) == 1 or all(b.stop - b.start >= 2 for b in blocks)


@pytest.mark.parametrize("seed", range(6))
def test_block_sizes_do_not_change_the_contrast_or_the_rest_pose(seed: int, monkeypatch) -> None:
    gold, gold_steps = _procedure(300 + 97 * seed, 4 + seed, seed)
    whole_contrast = step_contrast(gold, gold_steps)
    whole_rest = rest_pose_distance(gold, 4, 0.7)
    for rows in (150, 37, 2):
        monkeypatch.setattr(explain, "CONTRAST_BLOCK_ROWS", rows)
        monkeypatch.setattr(steps, "REST_BLOCK_ROWS", rows)
        assert step_contrast(gold, gold_steps) == whole_contrast
        distance, returns = rest_pose_distance(gold, 4, 0.7)
        assert returns == whole_rest[1]
        assert np.array_equal(distance, whole_rest[0])


def test_a_long_gold_is_measured_in_bounded_memory() -> None:
    """6,000 clips (50 minutes): the whole matrix alone would be 144 MB (float32) and the
    rest-pose distances 288 MB (float64)."""
    gold, gold_steps = _procedure(6000, 40, 0)
    tracemalloc.start()
    try:
        contrast = step_contrast(gold, gold_steps)
        _, contrast_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _, returns = rest_pose_distance(gold, 4, 0.7)
        _, rest_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.0 < contrast < 2.0 and returns >= 30
    assert contrast_peak < 110e6, contrast_peak
    assert rest_peak < 80e6, rest_peak


@pytest.mark.parametrize("seed", range(4))
def test_the_rbf_bandwidth_is_the_one_ruptures_computes(seed: int, monkeypatch) -> None:
    """Step detection passes the bandwidth to ruptures instead of letting it build the
    n x n Gram matrix: the same number, whole or in blocks."""
    import ruptures

    gold, _ = _procedure(200 + 150 * seed, 5, seed)
    x = gold.astype(np.float64)
    want = ruptures.KernelCPD(kernel="rbf").fit(x).cost.gamma
    assert steps.rbf_gamma(x) == want
    monkeypatch.setattr(steps, "GAMMA_BLOCK_ROWS", 37)
    assert steps.rbf_gamma(x) == want


@pytest.mark.parametrize("capacity", [1, 7, 100, 1000])
def test_sampled_frames_are_held_once_whatever_the_header_says(capacity: int) -> None:
    """Decoded frames go into one array sized from the header's duration: a header that
    under-states the length regrows it, one that over-states it is trimmed."""
    from sopilot_pipeline.core.video.decode import _FrameBuffer

    rng = np.random.default_rng(capacity)
    frames = rng.integers(0, 256, size=(100, 6, 8, 3), dtype=np.uint8)
    buffer = _FrameBuffer(capacity)
    for frame in frames:
        buffer.append(frame)
    out = buffer.array()
    assert np.array_equal(out, frames)
    held = out if out.base is None else out.base
    assert len(held) < 125  # no more than a fifth over what was decoded
