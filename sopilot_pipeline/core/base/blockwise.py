"""Whole-matrix statistics of long videos, computed a block of rows at a time.

Comparing every clip of a 60-minute video (7,200 clips) with every other is a 0.2-0.4 GB
matrix, plus the masks and copies made from it. These helpers let such a statistic go
in row blocks with the numbers it had as one matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def row_blocks(n: int, most: int) -> list[slice]:
    """``n`` rows in near-equal blocks of at most ``most`` (or 3, if ``most`` is less),
    none of one row, where BLAS would switch to a matrix-vector product and round
    differently."""
    count = max(1, min(-(-n // most), n // 2))
    edges = np.linspace(0, n, count + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def exact_median(blocks: Callable[[], Iterator[np.ndarray]]) -> np.floating:
    """``np.median`` of the values all blocks yield, without holding them all.

    One pass counts the values in 4,096 bins between their least and greatest; a second
    keeps only the values in the bins of the middle ranks, whose order statistics are
    then exact."""
    ends = [(float(b.min()), float(b.max())) for b in blocks() if b.size]
    lo, hi = min(e[0] for e in ends), max(e[1] for e in ends)
    edges = np.linspace(lo, hi, 4097)

    def bins(values: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 4095)

    def pieces() -> Iterator[np.ndarray]:  # bin numbers are int64: 2**20 values at a time
        for b in blocks():
            yield from np.array_split(b, max(1, b.size >> 20))

    counts = sum(np.bincount(bins(p), minlength=4096) for p in pieces())
    total = int(counts.sum())
    ranks = ((total - 1) // 2, total // 2)
    below = np.concatenate([[0], np.cumsum(counts)])
    wanted = sorted({int(np.searchsorted(below, r, side="right") - 1) for r in ranks})
    kept = np.concatenate([p[np.isin(bins(p), wanted)] for p in pieces()])
    first = int(below[wanted[0]])
    kept.sort()
    middle = kept[[ranks[0] - first, ranks[1] - first]]
    return np.mean(middle)
