"""Explain a trainee video as an edited version of the gold step sequence.

A trainee either follows the gold steps or departs from them by a few edits: a step
left out, two adjacent steps done in reverse order, an unrelated action slipped in,
the video ending before the procedure does. Rather than judge each gold step on its
own, the trainee is aligned (DTW over clips) to *edited* gold sequences and the edits
that make the alignment markedly cheaper are kept: a greedy search that accepts the
best single edit while it saves more than its price.

Between consecutive steps (and before the first, after the last) the alignment may
route trainee clips through an "unrelated activity" row of constant cost: clips that
resemble no gold step better than that cost are set aside there, which is how extra
actions are found and why they do not inflate a neighbouring step's duration. A gold
step with no trainee clips is only possible through a delete edit, so an early stop
becomes deletions of the tail steps (the cheapest explanation), i.e. open-end
alignment.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace

import numba
import numpy as np

from sopilot_pipeline.core.align.dtw import dtw_from_cost, subsequence_match
from sopilot_pipeline.core.align.edit_totals import (
    candidate_totals,
    row_cost_at,
    row_owners,
    row_sources,
)
from sopilot_pipeline.core.align.edit_totals_gpu import Totals, batch_totals_for
from sopilot_pipeline.core.segment.steps import Step

# back-pointer codes: where (row, col) came from
_DIAG, _UP, _LEFT, _DIAG_SKIP, _UP_SKIP, _START = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True, nogil=True)
def _row_graph_dtw(
    cost: np.ndarray, src: np.ndarray, extra_cost: np.float32, limit_vertical: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """DTW over rows where unrelated-activity rows are optional: a path may skip one, may not
    enter or leave one vertically (it never shares a clip with a step), and may stay
    in it for any number of clips. No two vertical moves in a row: a step is done at
    most twice as fast as in gold, so a step that is not there cannot be squeezed onto
    one or two trainee clips for free (``limit_vertical``; without it, only for a
    trainee video too short for any such path). Returns (rows, cols, total cost) of
    the best path. Rows are given by their gold clips ``src`` (-1: unrelated activity,
    cost ``extra_cost``), read from ``cost`` (gold clips x trainee clips)."""
    back, last = _row_graph_fill(cost, src, extra_cost, limit_vertical)
    end_r, end_s, best_end = _row_graph_end(last, src < 0)
    rows, cols = _row_graph_trace(back, end_r, end_s)
    return rows, cols, best_end


@numba.njit(cache=True, nogil=True)
def _row_graph_fill(
    cost: np.ndarray, src: np.ndarray, extra_cost: np.float32, limit_vertical: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The DP of ``_row_graph_dtw``: back-pointers of every cell, totals of the last column."""
    r_n, n = len(src), cost.shape[1]
    is_extra = src < 0
    inf = np.inf
    # state 0: reached by a diagonal, horizontal or start move; 1: by a vertical move.
    # Totals are kept for two columns only; the back-pointers, 2 bytes a cell, for all
    back = np.full((2, r_n, n), -1, dtype=np.int8)  # move code * 2 + source state
    prev = np.full((2, r_n), inf)
    acc = np.full((2, r_n), inf)
    for j in range(n):
        for r in range(r_n):
            c = row_cost_at(cost, src, extra_cost, r, j)
            best, code = inf, -1
            first_row = r == 0 or (r == 1 and is_extra[0])
            if j == 0 and first_row:
                best, code = 0.0, _START * 2
            if j > 0:
                for st in range(2):
                    if prev[st, r] < best:
                        best, code = prev[st, r], _LEFT * 2 + st
            if r > 0:
                prev_extra = is_extra[r - 1]
                if j > 0:
                    for st in range(2):
                        if prev[st, r - 1] < best:
                            best, code = prev[st, r - 1], _DIAG * 2 + st
                if prev_extra and not is_extra[r] and r > 1 and j > 0:
                    for st in range(2):
                        if prev[st, r - 2] < best:
                            best, code = prev[st, r - 2], _DIAG_SKIP * 2 + st
            acc[0, r] = best + c if code >= 0 else inf
            back[0, r, j] = code
            acc[1, r] = inf
            # vertical arrivals, only from a cell that was not itself reached vertically
            if r > 0 and not is_extra[r]:
                best_v, code_v = inf, -1
                for st in range(1 if limit_vertical else 2):
                    if not is_extra[r - 1] and acc[st, r - 1] < best_v:
                        best_v, code_v = acc[st, r - 1], _UP * 2 + st
                    if is_extra[r - 1] and r > 1 and acc[st, r - 2] < best_v:
                        best_v, code_v = acc[st, r - 2], _UP_SKIP * 2 + st
                if code_v >= 0:
                    acc[1, r] = best_v + c
                    back[1, r, j] = code_v
        prev, acc = acc, prev
    return back, prev


@numba.njit(cache=True, nogil=True)
def _row_graph_end(last: np.ndarray, is_extra: np.ndarray) -> tuple[int, int, float]:
    """Where the best path ends: the last row, or the one before a final unrelated row."""
    r_n = len(is_extra)
    end_r, end_s = r_n - 1, 0
    best_end = np.inf
    for rr in (r_n - 1, r_n - 2):
        if rr < 0 or (rr == r_n - 2 and not is_extra[r_n - 1]):
            continue
        for st in range(2):
            if last[st, rr] < best_end:
                best_end, end_r, end_s = last[st, rr], rr, st
    return end_r, end_s, best_end


@numba.njit(cache=True, nogil=True)
def _row_graph_trace(back: np.ndarray, end_r: int, end_s: int) -> tuple[np.ndarray, np.ndarray]:
    """The path's (rows, cols), followed back from its end through ``back``."""
    r_n, n = back.shape[1], back.shape[2]
    rows = np.empty(r_n + n, dtype=np.int32)
    cols = np.empty(r_n + n, dtype=np.int32)
    k = 0
    r, j, st = end_r, n - 1, end_s
    while True:
        rows[k] = r
        cols[k] = j
        k += 1
        code = back[st, r, j]
        if code < 0:
            break
        move, source = code // 2, code % 2
        if move == _START:
            break
        if move == _DIAG:
            r -= 1
            j -= 1
        elif move == _UP:
            r -= 1
        elif move == _LEFT:
            j -= 1
        elif move == _DIAG_SKIP:
            r -= 2
            j -= 1
        else:
            r -= 2
        st = source
    return rows[:k][::-1].copy(), cols[:k][::-1].copy()


@dataclass(frozen=True)
class StepPlacement:
    """Where one gold step landed in the trainee (clip indices, inclusive)."""

    step: int
    first_clip: int
    last_clip: int
    mean_cost: float


@dataclass(frozen=True)
class ExtraRun:
    """Trainee clips set aside as unrelated activity, after gold step ``after``
    (-1: before the first step)."""

    after: int
    first_clip: int
    last_clip: int


@dataclass(frozen=True)
class StepSequencePath:
    """The path through the gold's steps in the order the trainee did them, with the
    stretches set aside as unrelated activity."""

    order: tuple[int, ...]  # gold steps in the order the trainee did them
    total_cost: float
    placements: tuple[StepPlacement, ...]  # in ``order``
    extras: tuple[ExtraRun, ...]
    path: np.ndarray  # (L, 2) int32 (gold clip, trainee clip) pairs, step rows only


def align_step_sequence(
    cost: np.ndarray, steps: tuple[Step, ...], order: tuple[int, ...], extra_cost: float
) -> StepSequencePath:
    """Align the trainee (columns of ``cost``) to the gold steps taken in ``order``."""
    if not order:
        raise ValueError("cannot align to an empty step sequence")
    starts = np.array([s.start_clip for s in steps])
    ends = np.array([s.end_clip for s in steps])
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    owner, gold_clip = row_owners(starts, ends, order), row_sources(starts, ends, order)
    g_cost = np.float32(extra_cost)
    path_rows, path_cols, total = _row_graph_dtw(cost, gold_clip, g_cost, True)
    if not np.isfinite(total):  # trainee shorter than half the gold: allow any speed-up
        path_rows, path_cols, total = _row_graph_dtw(cost, gold_clip, g_cost, False)
    owners = owner[path_rows]
    placements = []
    for s in order:
        sel = owners == s
        cols = path_cols[sel]
        placements.append(
            StepPlacement(
                s,
                int(cols.min()),
                int(cols.max()),
                float(cost[gold_clip[path_rows[sel]], cols].mean()),
            )
        )
    extras = []
    pos = 0
    while pos < len(path_rows):
        if owners[pos] >= 0:
            pos += 1
            continue
        start = pos
        while pos < len(path_rows) and owners[pos] < 0:
            pos += 1
        before = owners[:start][owners[:start] >= 0]
        extras.append(
            ExtraRun(
                int(before[-1]) if len(before) else -1,
                int(path_cols[start]),
                int(path_cols[pos - 1]),
            )
        )
    on_step = owners >= 0
    path = np.stack([gold_clip[path_rows[on_step]], path_cols[on_step]], axis=1).astype(np.int32)
    return StepSequencePath(tuple(order), float(total), tuple(placements), tuple(extras), path)


def step_match_cost(cost: np.ndarray, step: Step) -> float:
    """Mean cost of the step's best match anywhere in the trainee (subsequence DTW)."""
    return subsequence_match(cost[step.start_clip : step.end_clip]).mean_cost


@dataclass(frozen=True)
class Edit:
    kind: str  # "delete" | "swap"
    steps: tuple[int, ...]
    saving: float  # alignment cost saved, in step-contrast units


@dataclass(frozen=True)
class SearchPrices:
    """What an edit must save before the search accepts it (see ``explain_trainee``)."""

    extra_cost: float  # the unrelated-activity row
    delete_price: float
    swap_price: float
    found_cost: float  # a step this cheap somewhere in the trainee was performed
    max_edits: int | None = None
    core_swap_margin: float = 0.08  # ``_swapped_cores``

    def of(self, kind: str, touched: tuple[int, ...], steps: tuple[Step, ...]) -> float:
        """What an edit of ``kind`` on the ``touched`` steps must save: its price per
        gold clip times the clips of those steps."""
        per_clip = self.delete_price if kind == "delete" else self.swap_price
        return per_clip * sum(steps[s].end_clip - steps[s].start_clip for s in touched)

    def of_order(
        self,
        order: tuple[int, ...],
        steps: tuple[Step, ...],
        free_pairs: frozenset[tuple[int, int]] = frozenset(),
    ) -> float:
        """What the edits that make ``order`` cost: every step left out, and every
        neighbouring pair done in reverse but for ``free_pairs`` (orders some gold shows)."""
        left_out = tuple(sorted(set(range(len(steps))) - set(order)))
        pairs = zip(order[:-1], order[1:], strict=True)
        reversed_pairs = [(a, b) for a, b in pairs if a > b and (b, a) not in free_pairs]
        return self.of("delete", left_out, steps) + sum(
            self.of("swap", pair, steps) for pair in reversed_pairs
        )


def explain_trainee(
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
    prices = SearchPrices(extra_cost, delete_price, swap_price, found_cost, max_edits)
    return explain_trainees([(cost, steps)], prices)[0]


def explain_trainees(
    pairs: list[tuple[np.ndarray, tuple[Step, ...]]], prices: SearchPrices
) -> list[tuple[StepSequencePath, tuple[Edit, ...]]]:
    """``explain_trainee`` for several (cost, gold steps) pairs, their rounds in lockstep:
    on a GPU every candidate of every pair's round is one kernel launch; on the CPU each
    pair's round is its two DPs, as alone. Same answers either way."""
    searches = [_edit_search(cost, steps, prices) for cost, steps in pairs]
    results: dict[int, tuple[StepSequencePath, tuple[Edit, ...]]] = {}
    pending: dict[int, tuple[int, ...]] = {}

    def advance(i: int, answer: Totals | None) -> None:
        try:
            pending[i] = next(searches[i]) if answer is None else searches[i].send(answer)
        except StopIteration as done:
            results[i] = done.value
            pending.pop(i, None)

    for i in range(len(pairs)):
        advance(i, None)
    round_totals = _round_totals(pairs, prices.extra_cost)
    while pending:
        for i, answer in round_totals(dict(pending)).items():
            advance(i, answer)
    return [results[i] for i in range(len(pairs))]


def _round_totals(
    pairs: list[tuple[np.ndarray, tuple[Step, ...]]], extra_cost: float
) -> Callable[[dict[int, tuple[int, ...]]], dict[int, Totals]]:
    """The candidate totals of the pending pairs' current orders: the GPU's batched
    launch when one is usable, else each pair's forward and backward DPs."""
    bounds = [
        (np.array([s.start_clip for s in steps]), np.array([s.end_clip for s in steps]))
        for _, steps in pairs
    ]
    on_gpu = batch_totals_for([cost for cost, _ in pairs])
    if on_gpu is not None:
        return lambda orders: on_gpu(
            {i: (*bounds[i], order) for i, order in orders.items()}, extra_cost
        )
    return lambda orders: {
        i: candidate_totals(pairs[i][0], *bounds[i], order, extra_cost)
        for i, order in orders.items()
    }


def _edit_search(
    cost: np.ndarray, steps: tuple[Step, ...], prices: SearchPrices
) -> Generator[tuple[int, ...], Totals, tuple[StepSequencePath, tuple[Edit, ...]]]:
    """The greedy search of ``explain_trainee``; each round yields the current order and
    is sent back the totals of its candidate edits (``edit_totals.candidate_totals``)."""
    extra_cost = prices.extra_cost
    order = tuple(range(len(steps)))
    current = align_step_sequence(cost, steps, order, extra_cost)
    edits: list[Edit] = []
    limit = prices.max_edits if prices.max_edits is not None else 2 * len(steps)
    while len(edits) < limit:
        totals = yield current.order
        paying = _paying_edits(cost, steps, current, prices, totals)
        if not paying:
            break
        best = max(paying, key=lambda p: p[0])
        if best[1].kind == "delete":
            best = _swap_over_delete(cost, steps, prices, best, paying)
        edits.append(best[1])
        current = align_step_sequence(cost, steps, best[2], extra_cost)
    return settle_edits(cost, steps, prices, current, edits)


def settle_edits(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, tuple[Edit, ...]]:
    """What the greedy rounds settled on, second-guessed where one edit at a time cannot
    see the better story: deletes exchanged, the better-fitting of two alike neighbours,
    an early stop, moved steps, swapped cores."""
    current, edits = _exchanged_deletes(cost, steps, prices, current, edits)
    current, edits = _better_fitting_deletes(cost, steps, prices, current, edits)
    current, edits = _stopped_early(cost, steps, prices, current, edits)
    current, edits = _moved_steps(cost, steps, prices.extra_cost, current, edits)
    current, edits = _swapped_cores(cost, steps, prices, current, edits)
    # a swap whose pair was later broken up by a delete is no longer part of the story
    final = current.order
    kept = tuple(
        e
        for e in edits
        if e.kind == "delete"
        or (
            all(s in final for s in e.steps)
            and final.index(e.steps[1]) + 1 == final.index(e.steps[0])
        )
    )
    return current, kept


def _swap_over_delete(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    delete: tuple[float, Edit, tuple[int, ...]],
    paying: list[tuple[float, Edit, tuple[int, ...]]],
) -> tuple[float, Edit, tuple[int, ...]]:
    """The swap of the step a delete would remove, when that swap pays too and the step
    is there: visibly performed somewhere (its best match in the trainee costs at most
    ``found_cost``), or the swapped order explains the trainee about as well as the
    delete (it saves no less than the delete less the delete's price). Set aside as
    unrelated activity, a swapped step looks missing; the price of a swap counts both
    steps' clips, so a short step done early against a long neighbour loses to its own
    delete on price alone (tuning seed 4646: 1.9 s done before a 3.6 s step, the two
    orders' costs 0.08 apart, read as missing plus an extra action)."""
    step = delete[1].steps[0]
    swaps = [p for p in paying if p[1].kind == "swap" and step in p[1].steps]
    if not swaps:
        return delete
    swap = max(swaps, key=lambda p: p[0])
    as_good = swap[1].saving >= delete[1].saving - prices.of("delete", (step,), steps)
    if as_good or step_match_cost(cost, steps[step]) <= prices.found_cost:
        return swap
    return delete


def _exchanged_deletes(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, list[Edit]]:
    """A deleted step put back in its place and a performed step deleted instead, when
    that explains the trainee better by the search's own measure (cost plus the prices
    of the order's edits), the best such exchange at a time until none pays.

    The search takes one edit at a time, so a delete chosen early is never weighed
    against the edits that follow it. A trainee who stops two steps early leaves the
    last two gold steps without clips; deleting either one alone still squeezes the
    other into the trainee's last clips, and the search may delete the step before the
    true pair (three early stops of three on tuning seed 4343, authored steps: the
    delete belongs on the neighbour). With cumulative state a step done after a
    left-out one looks unlike its gold (the part before it is not there), and the
    search may pay for a swap and a delete at the end where one delete in the middle
    tells it (fresh tuning seed 9203, detected, task 07: steps 1 and 4 left out, read
    as steps 1 and 6 left out and 4 and 5 swapped, a story dearer by 0.7).
    """
    while True:
        base = current.total_cost + prices.of_order(current.order, steps)
        best: tuple[float, int, Edit, StepSequencePath] | None = None
        for i, edit in enumerate(edits):
            if edit.kind != "delete":
                continue
            for p in current.order:
                kept = [t for t in current.order if t != p]
                at = next((k for k, t in enumerate(kept) if t > edit.steps[0]), len(kept))
                order = (*kept[:at], edit.steps[0], *kept[at:])
                trial = align_step_sequence(cost, steps, order, prices.extra_cost)
                gain = base - trial.total_cost - prices.of_order(order, steps)
                if gain > 1e-6 and (best is None or gain > best[0]):
                    best = (gain, i, Edit("delete", (p,), edit.saving + gain), trial)
        if best is None:
            return current, edits
        _, i, edits[i], current = best


DELETE_FIT_MARGIN = 0.5
"""How much dearer, by the search's measure, a story may be that leaves out the other of
two neighbouring steps and is kept for fitting better (``_better_fitting_deletes``)."""


def _better_fitting_deletes(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, list[Edit]]:
    """A left-out step exchanged for the performed neighbour in its place where the two
    stories are near alike by the search's measure (within ``DELETE_FIT_MARGIN``), the
    kept step is the shorter of two alike in length (``_shorter_alike``), and the
    left-out step fits the trainee's clips there better, per path cell.

    The measure sums costs over the path's cells, and a longer gold step has more of
    them, so of two alike neighbours the shorter is kept whichever the trainee did; the
    delete price per gold clip makes up for part of it only. On fresh tuning seed 9205
    task 03 (step 2 left out, steps 1 and 2 alike) the search kept step 2 of four gold
    clips, at 0.80 a cell, over step 1 of six, at 0.76, by 0.18 (by 0.02 on the early
    run), and told step 1 missing. Of the deletes on twelve runs of the fresh tuning
    seeds, ten had a neighbour's story within 1.0 of their own: these two were the only
    ones whose left-out step fitted better, and the only ones wrong. On all 48 runs of
    9201-9216 (authored, detected, early sidecars) the rule changes those two only.
    """
    for i, edit in enumerate(edits):
        if edit.kind != "delete":
            continue
        base = current.total_cost + prices.of_order(current.order, steps)
        held = {p.step: p for p in current.placements}
        left_out = edit.steps[0]
        for k, kept in enumerate(current.order):
            if abs(kept - left_out) != 1 or not _fits_between(current.order, k, left_out):
                continue
            if not _shorter_alike(steps[kept], steps[left_out]):
                continue
            order = (*current.order[:k], left_out, *current.order[k + 1 :])
            trial = align_step_sequence(cost, steps, order, prices.extra_cost)
            dearer = trial.total_cost + prices.of_order(order, steps) - base
            fit = next(p.mean_cost for p in trial.placements if p.step == left_out)
            if dearer < DELETE_FIT_MARGIN and fit < held[kept].mean_cost:
                edits[i] = Edit("delete", (kept,), edit.saving - max(dearer, 0.0))
                current = trial
                break
    return current, edits


def _shorter_alike(kept: Step, left_out: Step) -> bool:
    """Whether the kept step is the shorter, in gold clips (the one the measure favours),
    and the other at most twice as long. Where the search kept the longer step against
    its bias, that is evidence for it (fresh tuning seed 9213 task 01: a 7-clip step kept
    over a 5-clip one that fitted 0.013 better per cell, rightly). A fit per cell
    compares alike steps, not one step with two merged (detected 9216 task 08: a 10-clip
    step that was two, half of it done, fitted worse per cell than the 4-clip step beside
    it and would have been told missing for it)."""
    short, long = kept.end_clip - kept.start_clip, left_out.end_clip - left_out.start_clip
    return short < long <= 2 * short


def _fits_between(order: tuple[int, ...], k: int, step: int) -> bool:
    """Whether ``step`` in place of ``order[k]`` keeps gold order with its neighbours."""
    return (k == 0 or order[k - 1] < step) and (k == len(order) - 1 or step < order[k + 1])


def _stopped_early(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, list[Edit]]:
    """The last step done read as the first step left out before it, when that tells
    the trainee better with the video's end taken as it is: a trainee who stops early.

    A step's last clip reaches past the step's end (a clip is longer than the stride
    between clips) into the start of the next step, which a trainee who stopped after
    the step never shows; the gold's last step has no next step, and its clips run out
    as the video does. So a trainee's final step fits gold's last step one clip
    cheaper than its own: tuning seed 5050 (authored steps) stopped after the sixth of
    eight steps, read as the fifth and sixth left out and the eighth done, by 0.05
    against alignment costs of 18. Here each story's last step is measured without
    its last clip where it is not the gold's last step, the search's measure otherwise
    (alignment total and the prices of the steps left out); the path is drawn whole.
    """
    order = current.order
    deletes = {e.steps[0]: i for i, e in enumerate(edits) if e.kind == "delete"}
    if len(order) < 2:
        return current, edits
    gaps = [s for s in deletes if order[-2] < s < order[-1]]
    if not gaps:
        return current, edits

    def measure(story: tuple[int, ...]) -> float:
        told = _cost_to_the_video_end(cost, steps, story, prices.extra_cost)
        return told + prices.of_order(story, steps)

    own = measure(order)
    told = {s: measure((*order[:-1], s)) for s in gaps}
    best = min(told, key=told.__getitem__)
    gain = own - told[best]
    if gain <= 1e-6:
        return current, edits
    i = deletes[best]
    edits[i] = Edit("delete", (order[-1],), edits[i].saving + gain)
    story = (*order[:-1], best)
    return align_step_sequence(cost, steps, story, prices.extra_cost), edits


def _cost_to_the_video_end(
    cost: np.ndarray, steps: tuple[Step, ...], order: tuple[int, ...], extra_cost: float
) -> float:
    """Alignment total of ``order``, its last step without its last clip unless it is
    the gold's last step (``_stopped_early``)."""
    last = steps[order[-1]]
    if last.index < len(steps) - 1 and last.end_clip - last.start_clip >= 2:
        cut = replace(last, end_clip=last.end_clip - 1)
        steps = tuple(cut if s.index == last.index else s for s in steps)
    return align_step_sequence(cost, steps, order, extra_cost).total_cost


MOVED_STEP_MARGIN = 1.25
MOVED_STEP_MIN_LENGTH = 0.5
"""Set-aside trainee activity is a missing step done out of place when that step is
the gold step it resembles most, by this factor over the next most alike, and the
activity lasts at least this share of the gold step (a glance is not a step)."""


def resembled_step(cost: np.ndarray, steps: tuple[Step, ...], run: ExtraRun) -> int | None:
    """The gold step a set-aside run of trainee clips looks like, if one stands out.

    Each trainee clip is compared with its closest clip of each step (no time warping:
    the run may be a part or a hurried version of the step)."""
    if len(steps) < 2:
        return None
    cols = slice(run.first_clip, run.last_clip + 1)
    likeness = np.array([cost[s.start_clip : s.end_clip, cols].min(axis=0).mean() for s in steps])
    first, second = np.argsort(likeness)[:2]
    return int(first) if likeness[second] >= MOVED_STEP_MARGIN * likeness[first] else None


def _moved_steps(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    extra_cost: float,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, list[Edit]]:
    """Turn "step missing + unrelated activity next to its neighbour" into a swap.

    When a step is done before its predecessor (or after its successor) and steps leave
    results in view, it looks unlike the gold's step: its predecessor's result is not
    there yet. Aligned with the swapped order it then costs more than unrelated
    activity, so the search deletes it and sets the performance aside. If the set-aside
    run sits where the swap would put the step and resembles that step more than any
    other, the step was performed out of order, not left out.
    """
    for i, edit in enumerate(edits):
        if edit.kind != "delete":
            continue
        s = edit.steps[0]
        order = current.order
        length = steps[s].end_clip - steps[s].start_clip
        for run in current.extras:
            if run.last_clip + 1 - run.first_clip < MOVED_STEP_MIN_LENGTH * length:
                continue
            if resembled_step(cost, steps, run) != s:
                continue
            if s - 1 in order:  # done early: the run comes right before its predecessor
                at = order.index(s - 1)
                if run.after == (order[at - 1] if at else -1):
                    new_order, pair = order[:at] + (s,) + order[at:], (s - 1, s)
                    break
            if s + 1 in order and run.after == s + 1:  # done late: right after its successor
                at = order.index(s + 1)
                new_order, pair = order[: at + 1] + (s,) + order[at + 1 :], (s, s + 1)
                break
        else:
            continue
        trial = align_step_sequence(cost, steps, new_order, extra_cost)
        edits[i] = Edit("swap", pair, current.total_cost - trial.total_cost)
        current = trial
    return current, edits


def _core_rows(step: Step) -> list[int]:
    """A step's gold clips without its first and last (the reach from rest and the
    return to it look alike in every step), when it has three or more."""
    first, end = step.start_clip, step.end_clip
    return list(range(first + 1, end - 1)) if end - first >= 3 else list(range(first, end))


def _swapped_cores(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    prices: SearchPrices,
    current: StepSequencePath,
    edits: list[Edit],
) -> tuple[StepSequencePath, list[Edit]]:
    """Swap a pair left in gold order whose cores match the other order clearly better.

    A step's first and last clips (leaving rest, coming back) look alike in every step
    and, where the trainee swapped two steps, match no better in the swapped order than
    in gold's: their cost dilutes what the swap saves until it is below the swap's price
    (tuning seed 4949: the first two steps swapped, the swapped order 0.36 cheaper over
    11 clips, price 1.1; no deviation at all). Matched without them to all of the two
    steps' trainee clips (DTW over the pair's span), the swapped order was 0.18 cheaper
    per cell. On the sixteen tuning runs (eight seeds, detected and authored steps) the
    three swaps the search left in gold order were 0.085-0.18 cheaper swapped; of the
    4,560 pairs truly done in gold order none was cheaper swapped (closest: 0.008 dearer).
    """
    touched = {s for e in edits for s in e.steps}
    for a, b in zip(current.placements[:-1], current.placements[1:], strict=True):
        if b.step != a.step + 1 or touched & {a.step, b.step}:
            continue
        window = cost[:, a.first_clip : b.last_clip + 1]
        ra, rb = _core_rows(steps[a.step]), _core_rows(steps[b.step])
        in_order = dtw_from_cost(window[ra + rb]).mean_cost
        swapped = dtw_from_cost(window[rb + ra]).mean_cost
        if in_order - swapped < prices.core_swap_margin:
            continue
        order = list(current.order)
        at = order.index(a.step)
        order[at], order[at + 1] = b.step, a.step
        trial = align_step_sequence(cost, steps, tuple(order), prices.extra_cost)
        edits.append(Edit("swap", (a.step, b.step), current.total_cost - trial.total_cost))
        return _swapped_cores(cost, steps, prices, trial, edits)
    return current, edits


def _paying_edits(
    cost: np.ndarray,
    steps: tuple[Step, ...],
    current: StepSequencePath,
    prices: SearchPrices,
    totals: Totals,
) -> list[tuple[float, Edit, tuple[int, ...]]]:
    """(saving less price, edit, new order) of every delete and adjacent swap of the
    current order that pays, in the order the search has always tried them (so ties go
    the same way). ``totals`` are the candidates' (``edit_totals.candidate_totals`` or
    the GPU's); a candidate with no path under the speed limit is re-run in full, which
    lifts the limit as ``align_step_sequence`` does."""
    order = current.order
    deletes, swaps = totals
    candidates: list[tuple[str, tuple[int, ...], tuple[int, ...], float]] = []
    if len(order) > 1:
        for i, s in enumerate(order):
            candidates.append(("delete", (s,), order[:i] + order[i + 1 :], deletes[i]))
    for i in range(len(order) - 1):
        a, b = order[i], order[i + 1]
        if a < b and abs(a - b) == 1:  # only a pair in gold order can be swapped
            candidates.append(("swap", (a, b), order[:i] + (b, a) + order[i + 2 :], swaps[i]))
    paying = []
    for kind, touched, new_order, total in candidates:
        if not np.isfinite(total):
            total = align_step_sequence(cost, steps, new_order, prices.extra_cost).total_cost
        saving = current.total_cost - total
        price = prices.of(kind, touched, steps)
        if saving - price > 0:
            paying.append((saving - price, Edit(kind, touched, saving), new_order))
    return paying
