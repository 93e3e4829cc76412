"""The fast edit search gives the answers of the one it replaced: every candidate's
total equals a full row-graph DTW of the edited sequence, and the search keeps the same
edits, order and total (``benchmarks/reference_edit_search.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.reference_edit_search import explain_trainee_reference
from sopilot_pipeline.core.align import edit_totals
from sopilot_pipeline.core.align.edit_totals import candidate_totals
from sopilot_pipeline.core.scoring.step_alignment import align_step_sequence, explain_trainee
from sopilot_pipeline.core.segment.steps import Step


def _steps(lengths: list[int]) -> tuple[Step, ...]:
    edges = np.concatenate([[0], np.cumsum(lengths)])
    return tuple(
        Step(k, int(a), int(b), a * 0.5, b * 0.5)
        for k, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    )


def _case(seed: int) -> tuple[np.ndarray, tuple[Step, ...]]:
    """Gold steps of random lengths; a trainee that does them in a randomly edited
    order (a step left out, a pair swapped, unrelated clips), at a random pace, with
    noise: a cost matrix in contrast units, low where the trainee does a gold step."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    steps = _steps(list(rng.integers(2, 9, size=k)))
    order = list(range(k))
    if k > 2 and rng.random() < 0.5:
        order.pop(int(rng.integers(k)))
    if len(order) > 1 and rng.random() < 0.5:
        i = int(rng.integers(len(order) - 1))
        order[i], order[i + 1] = order[i + 1], order[i]
    plan: list[int] = []
    for s in order:
        if rng.random() < 0.2:
            plan += [-1] * int(rng.integers(1, 5))
        plan += [s] * max(1, int((steps[s].end_clip - steps[s].start_clip) * rng.uniform(0.4, 1.8)))
    if rng.random() < 0.2:
        plan = plan[: max(1, len(plan) // 3)]  # a trainee video much shorter than gold
    gold_rows = steps[-1].end_clip
    cost = rng.uniform(0.8, 1.4, size=(gold_rows, len(plan)))
    for col, s in enumerate(plan):
        if s >= 0:
            cost[steps[s].start_clip : steps[s].end_clip, col] = rng.uniform(0.0, 0.5)
    return cost.astype(np.float32), steps


@pytest.mark.parametrize("seed", range(60))
def test_each_candidate_total_is_that_of_a_full_alignment(seed: int) -> None:
    cost, steps = _case(seed)
    rng = np.random.default_rng(seed + 1000)
    order = tuple(int(s) for s in rng.permutation(len(steps)))
    starts = np.array([s.start_clip for s in steps])
    ends = np.array([s.end_clip for s in steps])
    deletes, swaps = candidate_totals(cost, starts, ends, order, 0.6)
    for i in range(len(order)):
        if len(order) > 1:
            want = align_step_sequence(cost, steps, order[:i] + order[i + 1 :], 0.6)
            _same_total(deletes[i], want.total_cost)
        if i + 1 < len(order):
            new = order[:i] + (order[i + 1], order[i]) + order[i + 2 :]
            _same_total(swaps[i], align_step_sequence(cost, steps, new, 0.6).total_cost)


@pytest.mark.parametrize("seed", range(20))
def test_totals_in_groups_are_the_totals_in_one(seed: int, monkeypatch) -> None:
    """A long SOP's candidates are totalled in groups to bound memory: same numbers."""
    cost, steps = _case(seed)
    starts = np.array([s.start_clip for s in steps])
    ends = np.array([s.end_clip for s in steps])
    order = tuple(range(len(steps)))
    whole = candidate_totals(cost, starts, ends, order, 0.6)
    for positions in (1, 2, 3):
        monkeypatch.setattr(edit_totals, "KEPT_ROWS_BYTES", 64 * cost.shape[1] * positions)
        assert candidate_totals(cost, starts, ends, order, 0.6) == whole


def _same_total(fast: float, full: float) -> None:
    """Equal, or no path under the speed limit (the full alignment then lifts it)."""
    if np.isfinite(fast):
        assert fast == pytest.approx(full, rel=1e-9, abs=1e-9)
    else:
        assert not np.isfinite(fast)


@pytest.mark.parametrize("seed", range(200))
def test_the_search_keeps_the_edits_order_and_total_of_the_reference(seed: int) -> None:
    cost, steps = _case(seed)
    fast, fast_edits = explain_trainee(cost, steps, 0.6, 0.3, 0.1, 0.6)
    ref, ref_edits = explain_trainee_reference(cost, steps, 0.6, 0.3, 0.1, 0.6)
    assert fast.order == ref.order
    assert [(e.kind, e.steps) for e in fast_edits] == [(e.kind, e.steps) for e in ref_edits]
    assert [e.saving for e in fast_edits] == pytest.approx([e.saving for e in ref_edits])
    assert fast.total_cost == ref.total_cost
    assert np.array_equal(fast.path, ref.path)
