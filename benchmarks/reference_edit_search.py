"""The edit search as it was before ``core/align/edit_totals.py``: one full row-graph DTW per
candidate edit and round. Kept as the reference that the fast search must agree with
(``sopilot_pipeline_tests/test_edit_totals.py``) and that ``benchmarks/scoring.py``
times against. What follows the rounds (``settle_edits``) is the search's own, so that
the two differ only in how a round totals its candidates."""

from __future__ import annotations

import numpy as np

from sopilot_pipeline.core.scoring.step_alignment import (
    Edit,
    SearchPrices,
    StepSequencePath,
    align_step_sequence,
    settle_edits,
    step_match_cost,
)
from sopilot_pipeline.core.segment.steps import Step


def explain_trainee_reference(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    extra_cost: float,
    delete_price: float,
    swap_price: float,
    found_cost: float,
    max_edits: int | None = None,
) -> tuple[StepSequencePath, tuple[Edit, ...]]:
    """Greedy search for the edits of the gold order that best explain the trainee.

    Prices are per gold clip of the steps an edit touches, so a long step must save
    proportionally more before it is declared missing or swapped. When deleting a step
    and swapping it with a neighbour both pay off, the swap is kept if the step is
    visibly performed somewhere (its best match in the trainee costs at most
    ``found_cost``): set aside as unrelated activity, a swapped step looks missing.
    """
    order = tuple(range(len(steps)))
    current = align_step_sequence(cost, steps, order, extra_cost)
    edits: list[Edit] = []
    limit = max_edits if max_edits is not None else 2 * len(steps)
    while len(edits) < limit:
        candidates: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        if len(current.order) > 1:
            for i, s in enumerate(current.order):
                candidates.append(("delete", (s,), current.order[:i] + current.order[i + 1 :]))
        for i in range(len(current.order) - 1):
            a, b = current.order[i], current.order[i + 1]
            if a < b and abs(a - b) == 1:  # only a pair in gold order can be swapped
                swapped = current.order[:i] + (b, a) + current.order[i + 2 :]
                candidates.append(("swap", (a, b), swapped))
        paying: list[tuple[float, Edit, StepSequencePath]] = []
        for kind, touched, new_order in candidates:
            trial = align_step_sequence(cost, steps, new_order, extra_cost)
            saving = current.total_cost - trial.total_cost
            length = sum(steps[s].end_clip - steps[s].start_clip for s in touched)
            price = (delete_price if kind == "delete" else swap_price) * length
            if saving - price > 0:
                paying.append((saving - price, Edit(kind, touched, saving), trial))
        if not paying:
            break
        best = max(paying, key=lambda p: p[0])
        if best[1].kind == "delete":
            step = best[1].steps[0]
            swaps = [p for p in paying if p[1].kind == "swap" and step in p[1].steps]
            if swaps and step_match_cost(cost, steps[step]) <= found_cost:
                best = max(swaps, key=lambda p: p[0])
        edits.append(best[1])
        current = best[2]
    # the same second thoughts after the rounds as the fast search
    prices = SearchPrices(extra_cost, delete_price, swap_price, found_cost, max_edits)
    return settle_edits(cost, steps, prices, current, edits)
