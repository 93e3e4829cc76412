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


@numba.njit(cache=True, nogil=True)
def _dtw_dp(cost: np.ndarray) -> tuple[np.ndarray, float]:
    m, n = cost.shape
    back = np.empty((m, n), dtype=np.int8)
    prev = np.empty(n, dtype=np.float64)
    cur = np.empty(n, dtype=np.float64)
    acc = 0.0
    for j in range(n):
        acc += cost[0, j]
        prev[j] = acc
        back[0, j] = _LEFT
    back[0, 0] = _DIAG
    for i in range(1, m):
        cur[0] = prev[0] + cost[i, 0]
        back[i, 0] = _UP
        for j in range(1, n):
            d = prev[j - 1]
            u = prev[j]
            lft = cur[j - 1]
            if d <= u and d <= lft:
                cur[j] = d + cost[i, j]
                back[i, j] = _DIAG
            elif u <= lft:
                cur[j] = u + cost[i, j]
                back[i, j] = _UP
            else:
                cur[j] = lft + cost[i, j]
                back[i, j] = _LEFT
        prev, cur = cur, prev
    return back, prev[n - 1]


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
    back, total = _dtw_dp(cost)
    path = _backtrack(back, cost.shape[0] - 1, cost.shape[1] - 1)
    return Alignment(path=path, total_cost=float(total), mean_cost=float(total) / len(path))


def dtw_align(gold: np.ndarray, trainee: np.ndarray) -> Alignment:
    """Align two clip-embedding sequences over cosine cost."""
    return dtw_from_cost(cosine_cost(gold, trainee))


@numba.njit(cache=True, nogil=True)
def _subsequence_dp(cost: np.ndarray) -> tuple[int, int, float]:
    """Query rows must all be matched; the series (columns) may start and end anywhere."""
    m, n = cost.shape
    acc = np.empty(n, dtype=np.float64)
    length = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    nacc = np.empty(n, dtype=np.float64)
    nlen = np.empty(n, dtype=np.int64)
    nstart = np.empty(n, dtype=np.int64)
    for j in range(n):
        acc[j] = cost[0, j]
        length[j] = 1
        start[j] = j
    for i in range(1, m):
        nacc[0] = acc[0] + cost[i, 0]
        nlen[0] = length[0] + 1
        nstart[0] = start[0]
        for j in range(1, n):
            # compare by mean cost so that longer (slower) matches are not punished
            best_a = acc[j - 1]
            best_l = length[j - 1]
            best_s = start[j - 1]
            if acc[j] / length[j] < best_a / best_l:
                best_a = acc[j]
                best_l = length[j]
                best_s = start[j]
            if nacc[j - 1] / nlen[j - 1] < best_a / best_l:
                best_a = nacc[j - 1]
                best_l = nlen[j - 1]
                best_s = nstart[j - 1]
            nacc[j] = best_a + cost[i, j]
            nlen[j] = best_l + 1
            nstart[j] = best_s
        acc, nacc = nacc, acc
        length, nlen = nlen, length
        start, nstart = nstart, start
    best_j = 0
    for j in range(1, n):
        if acc[j] / length[j] < acc[best_j] / length[best_j]:
            best_j = j
    return start[best_j], best_j, acc[best_j] / length[best_j]


def subsequence_match(cost: np.ndarray) -> SubsequenceMatch:
    """Best placement of all query rows of ``cost`` inside any span of its columns."""
    cost = np.ascontiguousarray(cost, dtype=np.float32)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"subsequence match needs a non-empty cost matrix, got {cost.shape}")
    s, e, c = _subsequence_dp(cost)
    return SubsequenceMatch(start=int(s), end=int(e), mean_cost=float(c))
