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

from dataclasses import dataclass

import numba
import numpy as np

INF = np.inf


@numba.njit(cache=True, nogil=True, inline="always")
def row_cost_at(
    cost: np.ndarray, src: np.ndarray, extra_cost: np.float32, r: int, j: int
) -> np.float32:
    """Cost of row ``r`` at trainee clip ``j``: its gold clip's, or the unrelated-activity
    cost (the row sequence is never built as a matrix: for a long pair it would be one
    more copy of the cost matrix)."""
    s = src[r]
    return extra_cost if s < 0 else cost[s, j]


@numba.njit(cache=True, nogil=True)
def _forward(
    cost: np.ndarray,
    src: np.ndarray,
    extra_cost: np.float32,
    can_start: np.ndarray,
    limit_vertical: bool,
    fixed: np.ndarray,
    keep: np.ndarray,
) -> np.ndarray:
    """Forward totals (state 0: arrived by a diagonal, horizontal or start move; 1: by
    a vertical one) with the moves of ``_row_graph_dtw``, two columns of memory at a
    time, over the rows whose gold clips are ``src`` (-1: unrelated activity). The first
    ``fixed.shape[1]`` rows are given (``fixed[st, r, j]``: a prefix already
    accumulated); a path may start at column 0 of rows where ``can_start``. Returns
    only the rows ``keep``: ``out[st, m, j]`` is row ``keep[m]``."""
    r_n, n = len(src), cost.shape[1]
    is_extra = src < 0
    r0 = fixed.shape[1]
    prev = np.full((2, r_n), INF)
    cur = np.full((2, r_n), INF)
    out = np.empty((2, len(keep), n))
    for j in range(n):
        for r in range(r0):
            cur[0, r] = fixed[0, r, j]
            cur[1, r] = fixed[1, r, j]
        for r in range(r0, r_n):
            c = row_cost_at(cost, src, extra_cost, r, j)
            best = INF
            if j == 0 and can_start[r]:
                best = 0.0
            if j > 0:
                best = min(best, prev[0, r], prev[1, r])
            if r > 0:
                if j > 0:
                    best = min(best, prev[0, r - 1], prev[1, r - 1])
                if is_extra[r - 1] and not is_extra[r] and r > 1 and j > 0:
                    best = min(best, prev[0, r - 2], prev[1, r - 2])
            cur[0, r] = best + c
            cur[1, r] = INF
            if r > 0 and not is_extra[r]:
                best_v = INF
                for st in range(1 if limit_vertical else 2):
                    if not is_extra[r - 1]:
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
    cost: np.ndarray,
    src: np.ndarray,
    extra_cost: np.float32,
    limit_vertical: bool,
    keep: np.ndarray,
) -> np.ndarray:
    """``out[st, m, j]``: least cost of the cells after (keep[m], j) to an end of the
    path, for a path that arrived there in state ``st``; two columns of memory."""
    r_n, n = len(src), cost.shape[1]
    is_extra = src < 0
    nxt = np.full((2, r_n), INF)
    cur = np.full((2, r_n), INF)
    out = np.empty((2, len(keep), n))
    for j in range(n - 1, -1, -1):
        for r in range(r_n - 1, -1, -1):
            if j == n - 1 and (r == r_n - 1 or (r == r_n - 2 and is_extra[r_n - 1])):
                cur[0, r] = cur[1, r] = 0.0
                continue
            # moves into state 0: horizontal, diagonal, diagonal over an unrelated row
            to0 = INF
            if j + 1 < n:
                to0 = row_cost_at(cost, src, extra_cost, r, j + 1) + nxt[0, r]
                if r + 1 < r_n:
                    to0 = min(to0, row_cost_at(cost, src, extra_cost, r + 1, j + 1) + nxt[0, r + 1])
                if r + 2 < r_n and is_extra[r + 1] and not is_extra[r + 2]:
                    to0 = min(to0, row_cost_at(cost, src, extra_cost, r + 2, j + 1) + nxt[0, r + 2])
            # moves into state 1: vertical, vertical over an unrelated row
            to1 = INF
            if r + 1 < r_n and not is_extra[r + 1] and not is_extra[r]:
                to1 = row_cost_at(cost, src, extra_cost, r + 1, j) + cur[1, r + 1]
            if r + 2 < r_n and is_extra[r + 1] and not is_extra[r + 2]:
                to1 = min(to1, row_cost_at(cost, src, extra_cost, r + 2, j) + cur[1, r + 2])
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


def row_owners(starts: np.ndarray, ends: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """The step each row of ``row_sources`` belongs to, -1 for unrelated activity."""
    return np.concatenate(
        [[-1, *[s] * (int(ends[s]) - int(starts[s]))] for s in order] + [[-1]]
    ).astype(np.int64)


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


KEPT_ROWS_BYTES = 128 * 2**20
"""Memory for the forward and backward totals kept between the two passes (about two
rows of two float64 states per position and direction). A long SOP (a 60-minute gold
read as 1,600 steps) would keep 0.7 GB; its candidates are then totalled in groups,
two passes per group. An SOP of up to about 290 steps at 7,200 trainee clips (60
minutes) is one group."""


def candidate_totals(
    cost: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    order: tuple[int, ...],
    extra_cost: float,
    limit_vertical: bool = True,
) -> tuple[dict[int, float], dict[int, float]]:
    """Totals of the sequence ``order`` with the step at each position deleted, and
    with each adjacent pair (position, position + 1) swapped, keyed by position."""
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    src = row_sources(starts, ends, order)
    g_cost = np.float32(extra_cost)
    g = [int(r) for r in np.flatnonzero(src < 0)]
    r_n, n = len(src), cost.shape[1]
    k = len(order)
    per_group = max(1, KEPT_ROWS_BYTES // (64 * max(n, 1)))
    can_start = np.zeros(r_n, dtype=np.bool_)
    can_start[:2] = True
    no_prefix = np.empty((2, 0, n))
    deletes: dict[int, float] = {}
    swaps: dict[int, float] = {}
    for first in range(0, k, per_group):
        positions = range(first, min(k, first + per_group))
        # only the rows where these positions' prefixes end and suffixes begin are kept
        ends_at = {g[i] for i in positions} | {g[i] - 1 for i in positions if i > 0}
        begins_at = {g[i + 1] for i in positions} | {g[i + 2] for i in positions if i + 2 <= k}
        begins_at |= {r + 1 for r in begins_at if r + 1 < r_n}
        kept_f = np.array(sorted(ends_at), dtype=np.int64)
        kept_b = np.array(sorted(begins_at), dtype=np.int64)
        fwd = _forward(cost, src, g_cost, can_start, limit_vertical, no_prefix, kept_f)
        bwd = _backward(cost, src, g_cost, limit_vertical, kept_b)
        totals = _GroupTotals(cost, src, g_cost, g, fwd, kept_f, bwd, kept_b, limit_vertical)
        for i in positions:
            if k > 1:
                deletes[i] = totals.delete(i, k)
            if i + 1 < k:
                swaps[i] = totals.swap(i, k, starts, ends, order)
    return deletes, swaps


@dataclass(frozen=True)
class _GroupTotals:
    """Joins of one group's kept forward and backward rows into candidate totals."""

    cost: np.ndarray
    src: np.ndarray  # gold clip of each row, -1 for unrelated activity
    g_cost: np.float32
    g: list[int]  # the unrelated-activity rows
    fwd: np.ndarray
    kept_f: np.ndarray
    bwd: np.ndarray
    kept_b: np.ndarray
    limit_vertical: bool

    def forward_row(self, row: int) -> np.ndarray:
        return self.fwd[:, int(np.searchsorted(self.kept_f, row))]

    def backward_row(self, row: int) -> np.ndarray:
        return self.bwd[:, int(np.searchsorted(self.kept_b, row))]

    def row_cost(self, row: int) -> np.ndarray:
        s = self.src[row]
        return np.full(self.cost.shape[1], self.g_cost) if s < 0 else self.cost[s]

    def first_row(self, row: int) -> tuple[np.ndarray, np.ndarray] | None:
        return (self.row_cost(row), self.backward_row(row)) if row < len(self.src) else None

    def delete(self, i: int, k: int) -> float:
        g = self.g
        return _join(
            self.forward_row(g[i])[0],
            self.forward_row(g[i] - 1) if i > 0 else None,
            self.backward_row(g[i + 1])[0],
            self.first_row(g[i + 1] + 1) if i + 1 < k else None,
            self.limit_vertical,
            at_start=i == 0,
            at_end=i + 1 == k,
        )

    def swap(
        self, i: int, k: int, starts: np.ndarray, ends: np.ndarray, order: tuple[int, ...]
    ) -> float:
        g, n = self.g, self.cost.shape[1]
        # the middle rows, after the prefix's last step row and unrelated-activity row
        mid = row_sources(starts, ends, (order[i + 1], order[i]))
        rows = np.concatenate([[self.src[max(g[i] - 1, 0)]], mid]).astype(np.int32)
        prefix = np.empty((2, 2, n))
        prefix[:, 0] = self.forward_row(g[i] - 1) if i > 0 else INF
        prefix[:, 1] = self.forward_row(g[i])
        can = np.zeros(len(rows), dtype=np.bool_)
        can[2] = i == 0
        ends_of = np.array([len(rows) - 2, len(rows) - 1], dtype=np.int64)
        acc = _forward(self.cost, rows, self.g_cost, can, self.limit_vertical, prefix, ends_of)
        return _join(
            acc[0, 1],
            acc[:, 0],
            self.backward_row(g[i + 2])[0],
            self.first_row(g[i + 2] + 1) if i + 2 < k else None,
            self.limit_vertical,
            at_start=False,
            at_end=i + 2 == k,
        )
