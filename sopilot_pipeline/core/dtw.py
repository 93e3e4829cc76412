"""Dynamic time warping over cosine cost (CPU, numba).

The cost matrix is one GEMM of L2-normalised embeddings; the dynamic programme runs in
numba with int8 back-pointers (0 diagonal, 1 up = advance gold, 2 left = advance
trainee), so memory stays at one byte per cell plus two cost rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

_DIAG, _UP, _LEFT = 0, 1, 2


@dataclass(frozen=True)
class Alignment:
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
    """``1 - cos(a_i, b_j)`` as float32, in [0, 2]."""
    cost = 1.0 - l2_normalise(a) @ l2_normalise(b).T
    return np.clip(cost, 0.0, 2.0, out=cost)


_BLOCK_ROWS = 4


@numba.njit(cache=True, nogil=True, inline="always")
def _dtw_cell(matrix, similarity, back, rows, r, i, c):
    """Cell (i, c), block row r: its row above is ``rows[r]``, its own ``rows[r + 1]``.
    Ties prefer diagonal, then up, then left."""
    cost = max(0.0, 1.0 - np.float64(matrix[i, c])) if similarity else np.float64(matrix[i, c])
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
def _dtw_dp(matrix: np.ndarray, similarity: bool) -> tuple[np.ndarray, float]:
    """Full DTW over ``matrix`` (a cost, or a cosine similarity when ``similarity``:
    cost = max(0, 1 - s)), with int8 back-pointers.

    Within a row every cell waits for its left neighbour, a chain of dependent
    min/add operations. Four rows are advanced together, skewed by one column each, so
    the processor works on four independent chains at once (about 2 ns per cell).
    """
    m, n = matrix.shape
    back = np.empty((m, n), dtype=np.int8)
    rows = np.empty((_BLOCK_ROWS + 1, n), dtype=np.float64)
    acc = 0.0
    for c in range(n):
        if similarity:
            acc += max(0.0, 1.0 - np.float64(matrix[0, c]))
        else:
            acc += matrix[0, c]
        rows[0, c] = acc
        back[0, c] = _LEFT
    back[0, 0] = _DIAG
    i0 = 1
    while i0 < m:
        h = min(_BLOCK_ROWS, m - i0)
        if h == 4 and n >= 4:
            for j in range(3):  # the skewed start of the block
                for r in range(j + 1):
                    _dtw_cell(matrix, similarity, back, rows, r, i0 + r, j - r)
            for j in range(3, n):
                _dtw_cell(matrix, similarity, back, rows, 0, i0, j)
                _dtw_cell(matrix, similarity, back, rows, 1, i0 + 1, j - 1)
                _dtw_cell(matrix, similarity, back, rows, 2, i0 + 2, j - 2)
                _dtw_cell(matrix, similarity, back, rows, 3, i0 + 3, j - 3)
            for j in range(n, n + 3):  # and its skewed end
                for r in range(j - n + 1, 4):
                    _dtw_cell(matrix, similarity, back, rows, r, i0 + r, j - r)
        else:
            for r in range(h):
                for c in range(n):
                    _dtw_cell(matrix, similarity, back, rows, r, i0 + r, c)
        rows[0, :] = rows[h, :]
        i0 += h
    return back, rows[0, n - 1]


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


def dtw_from_cost(cost: np.ndarray) -> Alignment:
    """Full DTW from (0, 0) to (m-1, n-1) over a precomputed cost matrix."""
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"DTW needs a non-empty 2-D cost matrix, got shape {cost.shape}")
    return _alignment(*_dtw_dp(cost, False))


def _alignment(back: np.ndarray, total: float) -> Alignment:
    path = _backtrack(back, back.shape[0] - 1, back.shape[1] - 1)
    return Alignment(path=path, total_cost=float(total), mean_cost=float(total) / len(path))


def dtw_align(gold: np.ndarray, trainee: np.ndarray) -> Alignment:
    """Align two clip-embedding sequences over cosine cost ``max(0, 1 - cos)``.

    One float32 GEMM of the L2-normalised embeddings gives the similarities; the DP
    turns them into costs row by row, so no separate cost matrix is materialised.
    """
    gold, trainee = np.asarray(gold), np.asarray(trainee)
    if gold.ndim != 2 or trainee.ndim != 2 or 0 in gold.shape or 0 in trainee.shape:
        raise ValueError(f"DTW needs two non-empty 2-D arrays, got {gold.shape}, {trainee.shape}")
    similarity = l2_normalise(gold) @ l2_normalise(trainee).T
    return _alignment(*_dtw_dp(similarity, True))


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


def dtw_align_batch(
    gold: np.ndarray, trainees: list[np.ndarray], workers: int = 2
) -> list[Alignment]:
    """Align one gold against many trainee videos, one pair per worker thread.

    Each pair is a small GEMM plus a DP that releases the GIL; BLAS is held to one
    thread meanwhile, since two threads on a ~600x600 product are slower than one
    thread per pair (measured: 1 gold vs 100 trainees of ~600 clips, 490 -> 340 ms).
    """
    if not trainees:
        return []
    if len(gold) == 0 or min(len(t) for t in trainees) == 0:
        raise ValueError("DTW needs non-empty embeddings")
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    gold_unit = l2_normalise(gold)

    def one(trainee: np.ndarray) -> Alignment:
        return _alignment(*_dtw_dp(gold_unit @ l2_normalise(trainee).T, True))

    with threadpool_limits(1, user_api="blas"):
        if workers <= 1:
            return [one(t) for t in trainees]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, trainees))
