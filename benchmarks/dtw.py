"""DTW speed against the reference design's numpy DTW, timed in the same run.

    python benchmarks/dtw.py [--repeat 3] [--skip-reference-4000]

Prints one JSON object per line: {"case", "ms", "reference_ms", "ratio", ...} where
``ms`` is this project's CPU DTW (``dtw_align`` / ``dtw_align_batch``: cosine cost
from 768-dim embeddings and the full path), ``reference_ms`` the faithful numpy
implementation of the reference design (GEMM cost matrix, anti-diagonal wavefront DP
over a full float64 table, backtrack), and ``ratio = reference_ms / ms``. Both take the
median of ``--repeat`` runs; each case also says whether both found the same path.
With the ``bench`` extra installed (tslearn), the single-pair cases also report
``tslearn_ms`` (``dtw_path_from_metric(..., metric="cosine")``) and ``tslearn_ratio``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from sopilot_pipeline.core.dtw import dtw_align, dtw_align_batch

DIM = 768


def reference_dtw(gold: np.ndarray, trainee: np.ndarray) -> tuple[np.ndarray, float]:
    """The reference design's CPU DTW: cost = 1 - gold @ trainee.T on normalised
    embeddings, dp filled one anti-diagonal at a time with numpy, then backtracked."""
    g = gold / np.linalg.norm(gold, axis=1, keepdims=True)
    t = trainee / np.linalg.norm(trainee, axis=1, keepdims=True)
    cost = 1.0 - g @ t.T
    m, n = cost.shape
    dp = np.full((m + 1, n + 1), np.inf)
    dp[0, 0] = 0.0
    for d in range(m + n - 1):
        i = np.arange(max(0, d - n + 1), min(m, d + 1))
        j = d - i
        best = np.minimum(np.minimum(dp[i, j], dp[i, j + 1]), dp[i + 1, j])
        dp[i + 1, j + 1] = cost[i, j] + best
    path = [(m - 1, n - 1)]
    i, j = m, n
    while (i, j) != (1, 1):
        moves = (
            (dp[i - 1, j - 1], i - 1, j - 1),
            (dp[i - 1, j], i - 1, j),
            (dp[i, j - 1], i, j - 1),
        )
        _, i, j = min(moves, key=lambda x: x[0])  # ties: diagonal, then up, then left
        path.append((i - 1, j - 1))
    return np.asarray(path[::-1], dtype=np.int32), float(dp[m, n])


def _median_ms(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def _tslearn_ms(gold: np.ndarray, trainee: np.ndarray, repeat: int) -> float | None:
    try:
        from tslearn.metrics import dtw_path_from_metric
    except ImportError:
        return None
    dtw_path_from_metric(gold[:4], trainee[:4], metric="cosine")  # compile first
    ms, _ = _median_ms(lambda: dtw_path_from_metric(gold, trainee, metric="cosine"), repeat)
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-repeat", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    warm = rng.normal(size=(8, DIM)).astype(np.float32)
    dtw_align(warm, warm)  # compile outside the timings
    dtw_align_batch(warm, [warm, warm])

    rows: list[tuple[dict, np.ndarray | None, np.ndarray | None]] = []
    for n in (2000, 4000):
        gold = rng.normal(size=(n, DIM)).astype(np.float32)
        trainee = rng.normal(size=(n, DIM)).astype(np.float32)
        ms, ours = _median_ms(lambda g=gold, t=trainee: dtw_align(g, t), args.repeat)
        ref_ms, (ref_path, _) = _median_ms(
            lambda g=gold, t=trainee: reference_dtw(g, t), args.reference_repeat
        )
        row = {
            "case": f"{n}x{n}",
            "ms": round(ms, 1),
            "reference_ms": round(ref_ms, 1),
            "ratio": round(ref_ms / ms, 1),
            "same_path": bool(np.array_equal(ours.path, ref_path)),
        }
        rows.append((row, gold, trainee))

    gold = rng.normal(size=(600, DIM)).astype(np.float32)
    trainees = [
        rng.normal(size=(int(k), DIM)).astype(np.float32) for k in rng.integers(550, 651, 100)
    ]
    ms, ours = _median_ms(lambda: dtw_align_batch(gold, trainees), args.repeat)
    ref_ms, refs = _median_ms(
        lambda: [reference_dtw(gold, t) for t in trainees], args.reference_repeat
    )
    same = all(np.array_equal(a.path, r[0]) for a, r in zip(ours, refs, strict=True))
    batch = {
        "case": "batch-1x100",
        "ms": round(ms, 1),
        "reference_ms": round(ref_ms, 1),
        "ratio": round(ref_ms / ms, 1),
        "same_path": same,
    }
    rows.append((batch, None, None))
    # tslearn last: its OpenMP threads keep spinning for a while and would slow the rest
    for row, gold_case, trainee_case in rows:
        if gold_case is not None:
            tslearn_ms = _tslearn_ms(gold_case, trainee_case, args.reference_repeat)
            if tslearn_ms is not None:
                row.update(
                    tslearn_ms=round(tslearn_ms, 1), tslearn_ratio=round(tslearn_ms / row["ms"], 1)
                )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
