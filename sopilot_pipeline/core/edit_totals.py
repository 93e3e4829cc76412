"""The alignment total of every candidate edit of a round, from two passes.

The edit search (``step_alignment.explain_trainee``) asks, each round, what the
alignment would cost with each single step deleted and with each adjacent pair of steps
swapped. Run as a full row-graph DTW per candidate, that is steps x rounds x gold
clips x trainee clips: minutes per trainee for a long SOP. An edit changes the row
sequence only locally, so a forward accumulation (cost from the start to each cell) and
a backward one (cost from each cell to the end) of the current sequence give every
candidate's total: a delete joins the prefix and the suffix through the one
unrelated-activity row between them; a swap re-runs the DP over the pair's rows only,
seeded by the prefix, and joins the suffix. The moves are those of
``step_alignment._row_graph_dtw``, which stays the one that draws the chosen path.
"""

from __future__ import annotations

import numba
import numpy as np

INF = np.inf


@numba.njit(cache=True, nogil=True)
def _forward(
    cost: np.ndarray,
    garbage: np.ndarray,
    can_start: np.ndarray,
    limit_vertical: bool,
    fixed: np.ndarray,
    keep: np.ndarray,
) -> np.ndarray:
    """Forward totals (state 0: arrived by a diagonal, horizontal or start move; 1: by
    a vertical one) with the moves of ``_row_graph_dtw``, two columns of memory at a
    time. The first ``fixed.shape[1]`` rows are given (``fixed[st, r, j]``: a prefix
    already accumulated); a path may start at column 0 of rows where ``can_start``.
    Returns only the rows ``keep``: ``out[st, m, j]`` is row ``keep[m]``."""
    r_n, n = cost.shape
    r0 = fixed.shape[1]
    prev = np.full((2, r_n), INF)
    cur = np.full((2, r_n), INF)
    out = np.empty((2, len(keep), n))
    for j in range(n):
        for r in range(r0):
            cur[0, r] = fixed[0, r, j]
            cur[1, r] = fixed[1, r, j]
        for r in range(r0, r_n):
            c = cost[r, j]
            best = INF
            if j == 0 and can_start[r]:
                best = 0.0
            if j > 0:
                best = min(best, prev[0, r], prev[1, r])
            if r > 0:
                if j > 0:
                    best = min(best, prev[0, r - 1], prev[1, r - 1])
                if garbage[r - 1] and not garbage[r] and r > 1 and j > 0:
                    best = min(best, prev[0, r - 2], prev[1, r - 2])
            cur[0, r] = best + c
            cur[1, r] = INF
            if r > 0 and not garbage[r]:
                best_v = INF
                for st in range(1 if limit_vertical else 2):
                    if not garbage[r - 1]:
                        best_v = min(best_v, cur[st, r - 1])
                    elif r > 1:
                        best_v = min(best_v, cur[st, r - 2])
                cur[1, r] = best_v + c
        for m in range(len(keep)):
            out[0, m, j] = cur[0, keep[m]]
            out[1, m, j] = cur[1, keep[m]]
        prev, cur = cur, prev
    return out


@numba.njit(cache=True, nogil=True)
def _backward(
    cost: np.ndarray, garbage: np.ndarray, limit_vertical: bool, keep: np.ndarray
) -> np.ndarray:
    """``out[st, m, j]``: least cost of the cells after (keep[m], j) to an end of the
    path, for a path that arrived there in state ``st``; two columns of memory."""
    r_n, n = cost.shape
    nxt = np.full((2, r_n), INF)
    cur = np.full((2, r_n), INF)
    out = np.empty((2, len(keep), n))
    for j in range(n - 1, -1, -1):
        for r in range(r_n - 1, -1, -1):
            if j == n - 1 and (r == r_n - 1 or (r == r_n - 2 and garbage[r_n - 1])):
                cur[0, r] = cur[1, r] = 0.0
                continue
            # moves into state 0: horizontal, diagonal, diagonal over an unrelated row
            to0 = INF
            if j + 1 < n:
                to0 = cost[r, j + 1] + nxt[0, r]
                if r + 1 < r_n:
                    to0 = min(to0, cost[r + 1, j + 1] + nxt[0, r + 1])
                if r + 2 < r_n and garbage[r + 1] and not garbage[r + 2]:
                    to0 = min(to0, cost[r + 2, j + 1] + nxt[0, r + 2])
            # moves into state 1: vertical, vertical over an unrelated row
            to1 = INF
            if r + 1 < r_n and not garbage[r + 1] and not garbage[r]:
                to1 = cost[r + 1, j] + cur[1, r + 1]
            if r + 2 < r_n and garbage[r + 1] and not garbage[r + 2]:
                to1 = min(to1, cost[r + 2, j] + cur[1, r + 2])
            cur[0, r] = min(to0, to1)
            cur[1, r] = to0 if limit_vertical else min(to0, to1)
        for m in range(len(keep)):
            out[0, m, j] = cur[0, keep[m]]
            out[1, m, j] = cur[1, keep[m]]
        nxt, cur = cur, nxt
    return out


def row_sources(starts: np.ndarray, ends: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """The gold clip behind each row of a step sequence, -1 for an unrelated-activity row:
    one before each step and one after the last, the step's gold clips between."""
    parts = []
    for s in order:
        parts += [np.array([-1]), np.arange(int(starts[s]), int(ends[s]))]
    parts.append(np.array([-1]))
    return np.concatenate(parts).astype(np.int32)


def row_layout(
    cost: np.ndarray, starts: np.ndarray, ends: np.ndarray, order: tuple[int, ...], garbage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a step sequence (``row_sources``). Returns (matrix, the step each row
    belongs to or -1 for an unrelated-activity row, the gold clip of each row or -1)."""
    gold_clip = row_sources(starts, ends, order)
    owner = np.concatenate(
        [[-1, *[s] * (int(ends[s]) - int(starts[s]))] for s in order] + [[-1]]
    ).astype(np.int64)
    matrix = np.asarray(cost, dtype=np.float32)[np.maximum(gold_clip, 0)]
    matrix[gold_clip < 0] = np.float32(garbage)
    return np.ascontiguousarray(matrix), owner, gold_clip.astype(np.int64)


def _join(
    left: np.ndarray,
    left_last_step_row: np.ndarray | None,
    right: np.ndarray,
    right_first: tuple[np.ndarray, np.ndarray] | None,
    limit_vertical: bool,
    at_start: bool,
    at_end: bool,
) -> float:
    """Least total of a path through (or around) the unrelated-activity row where a
    prefix ends and a suffix begins.

    ``left``: forward totals (state 0) on that row; ``right``: backward totals from it;
    ``left_last_step_row``: forward totals (2, n) on the prefix's last step row (None at
    the start); ``right_first``: (cost, backward (2, n)) on the suffix's first step
    row (None at the end)."""
    total = float(np.min(left + right))
    if right_first is not None:
        c, back = right_first
        if at_start:  # a path may start on the suffix's first step
            total = min(total, float(c[0] + back[0, 0]))
        if left_last_step_row is not None:
            prev = np.minimum(left_last_step_row[0], left_last_step_row[1])
            if len(c) > 1:  # diagonal over the unrelated row
                total = min(total, float(np.min(prev[:-1] + c[1:] + back[0, 1:])))
            # vertical over it
            up = left_last_step_row[0] if limit_vertical else prev
            total = min(total, float(np.min(up + c + back[1])))
    if at_end and left_last_step_row is not None:  # a path may end on the prefix's last step
        total = min(total, float(np.min(left_last_step_row[:, -1])))
    return total


def candidate_totals(
    cost: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    order: tuple[int, ...],
    garbage: float,
    limit_vertical: bool = True,
) -> tuple[dict[int, float], dict[int, float]]:
    """Totals of the sequence ``order`` with the step at each position deleted, and
    with each adjacent pair (position, position + 1) swapped, keyed by position."""
    matrix, owner, _ = row_layout(cost, starts, ends, order, garbage)
    is_garbage = owner < 0
    g = [int(r) for r in np.flatnonzero(is_garbage)]
    r_n, n = matrix.shape
    # only the rows where prefixes end and suffixes begin are kept: memory grows with
    # steps x trainee clips, not gold clips x trainee clips
    kept_f = np.array(sorted({max(r - 1, 0) for r in g} | set(g)), dtype=np.int64)
    kept_b = np.array(sorted(set(g) | {r + 1 for r in g if r + 1 < r_n}), dtype=np.int64)
    can_start = np.zeros(r_n, dtype=np.bool_)
    can_start[:2] = True
    fwd = _forward(matrix, is_garbage, can_start, limit_vertical, np.empty((2, 0, n)), kept_f)
    bwd = _backward(matrix, is_garbage, limit_vertical, kept_b)
    f_at = {int(r): m for m, r in enumerate(kept_f)}
    b_at = {int(r): m for m, r in enumerate(kept_b)}

    def forward_row(row: int) -> np.ndarray:
        return fwd[:, f_at[row]]

    def backward_row(row: int) -> np.ndarray:
        return bwd[:, b_at[row]]

    k = len(order)

    def first_row(row: int) -> tuple[np.ndarray, np.ndarray] | None:
        return (matrix[row], backward_row(row)) if row < r_n else None

    deletes: dict[int, float] = {}
    if k > 1:
        for i in range(k):
            deletes[i] = _join(
                forward_row(g[i])[0],
                forward_row(g[i] - 1) if i > 0 else None,
                backward_row(g[i + 1])[0],
                first_row(g[i + 1] + 1) if i + 1 < k else None,
                limit_vertical,
                at_start=i == 0,
                at_end=i + 1 == k,
            )
    swaps: dict[int, float] = {}
    for i in range(k - 1):
        a, b = order[i], order[i + 1]
        mid, mid_owner, _ = row_layout(cost, starts, ends, (b, a), garbage)
        # the middle rows, after the prefix's last step row and unrelated-activity row
        rows = np.vstack([matrix[max(g[i] - 1, 0)][None], mid])
        flags = np.concatenate([[False], mid_owner < 0])
        prefix = np.empty((2, 2, n))
        prefix[:, 0] = forward_row(g[i] - 1) if i > 0 else INF
        prefix[:, 1] = forward_row(g[i])
        can = np.zeros(len(rows), dtype=np.bool_)
        can[2] = i == 0
        ends_of = np.array([len(rows) - 2, len(rows) - 1], dtype=np.int64)
        acc = _forward(rows, flags, can, limit_vertical, prefix, ends_of)
        swaps[i] = _join(
            acc[0, 1],
            acc[:, 0],
            backward_row(g[i + 2])[0],
            first_row(g[i + 2] + 1) if i + 2 < k else None,
            limit_vertical,
            at_start=False,
            at_end=i + 2 == k,
        )
    return deletes, swaps
