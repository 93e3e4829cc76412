"""The trainee explained against a gold.

The trainee is explained as an edited gold step sequence (``step_alignment``): delete
edits are missing steps (an early stop deletes the tail), swap edits are adjacent
steps done in reverse order, clips set aside as unrelated activity are extra steps.

Costs are in units of the gold's step contrast (the typical cost between clips of
different gold steps), so every threshold and price holds for any embedder or
adapter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sopilot_pipeline.core.align.dtw import cosine_cost
from sopilot_pipeline.core.base.blockwise import exact_median, row_blocks
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.scoring.results import ScoringConfig
from sopilot_pipeline.core.scoring.step_alignment import (
    Edit,
    SearchPrices,
    StepSequencePath,
    align_step_sequence,
    explain_trainees,
)
from sopilot_pipeline.core.segment.steps import (
    Step,
)


def path_warp(path: np.ndarray, m: int, n: int) -> float:
    """Mean distance of the path from the diagonal, in units of the normalised time axes."""
    if m < 2 or n < 2 or len(path) == 0:
        return 0.0
    return float(np.mean(np.abs(path[:, 0] / (m - 1) - path[:, 1] / (n - 1))))


CONTRAST_BLOCK_ROWS = 1024
"""Gold clips compared with all others at a time in ``step_contrast``: a video of up to
this many clips is one block; a 60-minute gold (7,200 clips) is eight of 29 MB instead
of one 207 MB matrix and its masks and copies."""


def step_contrast(gold_vectors: np.ndarray, steps: tuple[Step, ...]) -> float:
    """Typical cosine cost between clips of *different* gold steps: the unit in which a
    trainee's match costs are judged, so thresholds hold for any embedder or adapter.

    The median is exact but taken in row blocks (``exact_median``), so memory does not
    grow with the square of the video's length."""
    n = len(gold_vectors)
    labels = np.zeros(n, dtype=np.int64)
    for s in steps:
        labels[s.start_clip : s.end_clip] = s.index
    idx = np.arange(n)
    by_step = len(np.unique(labels)) > 1
    by_time = not by_step and n > 4  # one step: compare clips far apart in time

    parts = row_blocks(n, CONTRAST_BLOCK_ROWS)

    def blocks() -> Iterator[np.ndarray]:
        for rows in parts:
            cost = cosine_cost(gold_vectors[rows], gold_vectors)
            if by_step:
                yield cost[labels[rows, None] != labels[None, :]]
            elif by_time:
                yield cost[np.abs(idx[rows, None] - idx[None, :]) >= 4]
            else:
                yield cost.ravel()
            del cost  # before the next block is made

    median = np.median(next(blocks())) if len(parts) == 1 else exact_median(blocks)
    return float(max(median, 1e-3))


@dataclass(frozen=True)
class Explanation:
    """The trainee explained against one gold: cost matrix in contrast units, the
    edited step sequence and the edits."""

    cost: np.ndarray
    contrast: float
    sequence: StepSequencePath
    edits: tuple[Edit, ...]

    @property
    def mean_cost(self) -> float:
        path = self.sequence.path
        if len(path) == 0:
            return float("inf")
        return float(self.cost[path[:, 0], path[:, 1]].mean())


def _cost_in_contrast_units(
    gold: ClipSeries, steps: tuple[Step, ...], trainee: ClipSeries
) -> tuple[np.ndarray, float]:
    if len(gold.vectors) == 0 or len(trainee.vectors) == 0:
        raise ValueError("cannot align a video with no clips")
    if not steps:
        raise ValueError("the gold video has no steps")
    contrast = step_contrast(gold.vectors, steps)
    cost = cosine_cost(gold.vectors, trainee.vectors)
    cost /= np.float32(contrast)  # in place: a 60-minute pair's matrix is 0.2 GB
    return cost, contrast


def replay_alignment(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    order: tuple[int, ...],
    edits: tuple[Edit, ...],
    config: ScoringConfig | None = None,
) -> Explanation:
    """An alignment saved as its step order and edits, rebuilt with one DP.

    The greedy edit search is the expensive part of ``align_to_gold``; its result is
    fully determined by the final order, so a later step need not search again.
    """
    config = config or ScoringConfig()
    cost, contrast = _cost_in_contrast_units(gold, steps, trainee)
    sequence = align_step_sequence(cost, steps, tuple(order), config.extra_cost)
    return Explanation(cost, contrast, sequence, tuple(edits))


def align_to_gold(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
) -> Explanation:
    """Explain the trainee against one gold (both in the same adapted feature space)."""
    return align_to_golds({"gold": (gold, steps)}, trainee, config)["gold"]


def align_to_golds(
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
) -> dict[str, Explanation]:
    """Explain the trainee against every gold of its task (see ``align_trainees``)."""
    return align_trainees([(golds, trainee)], config)[0]


def search_prices(config: ScoringConfig) -> SearchPrices:
    """The edit search's prices, as ``config`` sets them."""
    return SearchPrices(
        config.extra_cost,
        config.delete_price,
        config.swap_price,
        config.found_cost,
        core_swap_margin=config.core_swap_margin,
    )


def align_trainees(
    jobs: Sequence[tuple[Mapping[str, tuple[ClipSeries, tuple[Step, ...]]], ClipSeries]],
    config: ScoringConfig | None = None,
) -> list[dict[str, Explanation]]:
    """Explain each trainee against each of its golds, all the searches in lockstep: on
    a GPU each round of every trainee and gold is one kernel launch; on the CPU each
    pair is searched as alone. All their cost matrices are held at once."""
    config = config or ScoringConfig()
    prices = search_prices(config)
    costs = [
        {g: _cost_in_contrast_units(series, steps, trainee) for g, (series, steps) in golds.items()}
        for golds, trainee in jobs
    ]
    pairs = [
        (cost[g][0], golds[g][1])
        for (golds, _), cost in zip(jobs, costs, strict=True)
        for g in golds
    ]
    explained = iter(explain_trainees(pairs, prices))
    out = []
    for (golds, _), cost in zip(jobs, costs, strict=True):
        out.append({})
        for g in golds:
            sequence, edits = next(explained)
            out[-1][g] = Explanation(cost[g][0], cost[g][1], sequence, edits)
    return out
