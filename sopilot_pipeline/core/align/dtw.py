"""Cosine cost, plain DTW and subsequence matching (CPU, numba).

What scores a trainee is the row-graph DTW of the edit search (``step_alignment`` draws
the path, ``edit_totals`` totals the candidate edits on the CPU, ``edit_totals_gpu`` on
a GPU; every one reads a row's cost through ``edit_totals.row_cost_at``). This module
holds the two other DPs the scoring calls: a plain DTW over a small cost matrix (the
pieces of a slow-looking step, ``scoring.performed._split_at_rest``) with int8 back-pointers (0
diagonal, 1 up = advance gold, 2 left = advance trainee), and the subsequence match that
says whether a step is performed anywhere in the trainee (``step_match_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

_DIAG, _UP, _LEFT = 0, 1, 2


@dataclass(frozen=True)
class WarpPath:
    """A plain DTW path between two clip series and its cost."""

    path: np.ndarray  # (L, 2) int32 pairs (gold_clip, trainee_clip), monotone
    total_cost: float
    mean_cost: float  # total cost / path length


@dataclass(frozen=True)
class SubsequenceMatch:
    start: int  # first matched clip of the series
    end: int  # last matched clip of the series (inclusive)
    mean_cost: float


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-8)


def cosine_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - cos(a_i, b_j)`` as float32, in [0, 2] (in place: one matrix at a time)."""
    cost = l2_normalise(a) @ l2_normalise(b).T
    np.subtract(np.float32(1.0), cost, out=cost)
    return np.clip(cost, 0.0, 2.0, out=cost)


_INTERLEAVE = 4  # DP rows advanced together


@numba.njit(cache=True, nogil=True, inline="always")
def _dtw_cell(matrix, back, rows, r, local, i, c):
    """Cell (i, c), matrix row ``local``, block row r: the row above is ``rows[r]``,
    its own ``rows[r + 1]``. Ties prefer diagonal, then up, then left."""
    cost = np.float64(matrix[local, c])
    if c == 0:
        rows[r + 1, 0] = rows[r, 0] + cost
        back[i, 0] = _UP
        return
    d = rows[r, c - 1]
    u = rows[r, c]
    left = rows[r + 1, c - 1]
    if d <= u:
        best = d
        code = _DIAG
    else:
        best = u
        code = _UP
    if left < best:
        best = left
        code = _LEFT
    rows[r + 1, c] = best + cost
    back[i, c] = code


@numba.njit(cache=True, nogil=True)
def _dtw_rows(matrix: np.ndarray, first_row: int, back: np.ndarray, rows: np.ndarray) -> None:
    """Advance the DTW by the cost rows in ``matrix`` (global rows from ``first_row``).
    ``rows[0]`` holds
    the accumulated costs of the row above and is updated; ``back`` gets int8 moves.

    Within a row every cell waits for its left neighbour, a chain of dependent min/add
    operations. Four rows are advanced together, skewed by one column each, so the
    processor works on four independent chains at once (about 2 ns per cell).
    """
    h_all, n = matrix.shape
    local = 0
    if first_row == 0:
        acc = 0.0
        for c in range(n):
            acc += np.float64(matrix[0, c])
            rows[0, c] = acc
            back[0, c] = _LEFT
        back[0, 0] = _DIAG
        local = 1
    while local < h_all:
        h = min(_INTERLEAVE, h_all - local)
        i0 = first_row + local
        if h == 4 and n >= 4:
            for j in range(3):  # the skewed start of the block
                for r in range(j + 1):
                    _dtw_cell(matrix, back, rows, r, local + r, i0 + r, j - r)
            for j in range(3, n):
                _dtw_cell(matrix, back, rows, 0, local, i0, j)
                _dtw_cell(matrix, back, rows, 1, local + 1, i0 + 1, j - 1)
                _dtw_cell(matrix, back, rows, 2, local + 2, i0 + 2, j - 2)
                _dtw_cell(matrix, back, rows, 3, local + 3, i0 + 3, j - 3)
            for j in range(n, n + 3):  # and its skewed end
                for r in range(j - n + 1, 4):
                    _dtw_cell(matrix, back, rows, r, local + r, i0 + r, j - r)
        else:
            for r in range(h):
                for c in range(n):
                    _dtw_cell(matrix, back, rows, r, local + r, i0 + r, c)
        rows[0, :] = rows[h, :]
        local += h


def _dtw_dp(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Full DTW over a precomputed matrix: back-pointers and total cost."""
    m, n = matrix.shape
    back = np.empty((m, n), dtype=np.int8)
    rows = np.empty((_INTERLEAVE + 1, n), dtype=np.float64)
    _dtw_rows(np.ascontiguousarray(matrix), 0, back, rows)
    return back, float(rows[0, n - 1])


@numba.njit(cache=True, nogil=True)
def _backtrack(back: np.ndarray, i: int, j: int) -> np.ndarray:
    m, n = back.shape
    out = np.empty((m + n, 2), dtype=np.int32)
    k = 0
    while True:
        out[k, 0] = i
        out[k, 1] = j
        k += 1
        if i == 0 and j == 0:
            break
        step = back[i, j]
        if step == 0:
            i -= 1
            j -= 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    return out[:k][::-1].copy()


def dtw_from_cost(cost: np.ndarray) -> WarpPath:
    """Full DTW from (0, 0) to (m-1, n-1) over a precomputed cost matrix."""
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"DTW needs a non-empty 2-D cost matrix, got shape {cost.shape}")
    return _warp_path(*_dtw_dp(cost))


def _warp_path(back: np.ndarray, total: float) -> WarpPath:
    path = _backtrack(back, back.shape[0] - 1, back.shape[1] - 1)
    return WarpPath(path=path, total_cost=float(total), mean_cost=float(total) / len(path))


@numba.njit(cache=True, nogil=True)
def _subsequence_dp(cost: np.ndarray) -> tuple[int, int, float]:
    """Query rows must all be matched; the series (columns) may start and end anywhere.

    Paths compare by mean cost, so a slow (long) match is not punished for its length,
    and may not take two vertical moves in a row, so a query cannot collapse onto one
    or two columns: a match spans at least half the query's length.
    """
    m, n = cost.shape
    inf = np.inf
    # per column: best path arriving by a diagonal/horizontal move (free to go vertical
    # next) and best arriving by a vertical move; each as (sum, length, start column)
    a_sum = np.empty(n)
    a_len = np.empty(n, dtype=np.int64)
    a_st = np.empty(n, dtype=np.int64)
    v_sum = np.full(n, inf)
    v_len = np.ones(n, dtype=np.int64)
    v_st = np.zeros(n, dtype=np.int64)
    b_sum = np.empty(n)
    b_len = np.empty(n, dtype=np.int64)
    b_st = np.empty(n, dtype=np.int64)
    w_sum = np.empty(n)
    w_len = np.empty(n, dtype=np.int64)
    w_st = np.empty(n, dtype=np.int64)
    for j in range(n):
        a_sum[j] = cost[0, j]
        a_len[j] = 1
        a_st[j] = j
    for i in range(1, m):
        for j in range(n):
            # vertical: from (i-1, j) only if that cell was not itself reached vertically
            w_sum[j] = a_sum[j] + cost[i, j]
            w_len[j] = a_len[j] + 1
            w_st[j] = a_st[j]
            best_s = inf
            best_l = 1
            best_t = 0
            if j > 0:
                # diagonal from (i-1, j-1), either kind
                if a_sum[j - 1] / a_len[j - 1] < best_s / best_l:
                    best_s, best_l, best_t = a_sum[j - 1], a_len[j - 1], a_st[j - 1]
                if v_sum[j - 1] / v_len[j - 1] < best_s / best_l:
                    best_s, best_l, best_t = v_sum[j - 1], v_len[j - 1], v_st[j - 1]
                # horizontal from (i, j-1), either kind
                if b_sum[j - 1] / b_len[j - 1] < best_s / best_l:
                    best_s, best_l, best_t = b_sum[j - 1], b_len[j - 1], b_st[j - 1]
                if w_sum[j - 1] / w_len[j - 1] < best_s / best_l:
                    best_s, best_l, best_t = w_sum[j - 1], w_len[j - 1], w_st[j - 1]
            b_sum[j] = best_s + cost[i, j]
            b_len[j] = best_l + 1
            b_st[j] = best_t
        a_sum, b_sum = b_sum, a_sum
        a_len, b_len = b_len, a_len
        a_st, b_st = b_st, a_st
        v_sum, w_sum = w_sum, v_sum
        v_len, w_len = w_len, v_len
        v_st, w_st = w_st, v_st
    best_j = -1
    best = inf
    best_from_v = False
    for j in range(n):
        if a_sum[j] / a_len[j] < best:
            best, best_j, best_from_v = a_sum[j] / a_len[j], j, False
        if v_sum[j] / v_len[j] < best:
            best, best_j, best_from_v = v_sum[j] / v_len[j], j, True
    start = v_st[best_j] if best_from_v else a_st[best_j]
    return start, best_j, best


def subsequence_match(cost: np.ndarray) -> SubsequenceMatch:
    """Best placement of all query rows of ``cost`` inside any span of its columns."""
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"subsequence match needs a non-empty cost matrix, got {cost.shape}")
    s, e, c = _subsequence_dp(cost)
    return SubsequenceMatch(start=int(s), end=int(e), mean_cost=float(c))
