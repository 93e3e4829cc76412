"""Clip search latency at 100k clips: the index's exact top-k against a plain reference.

    python benchmarks/search.py [--clips 100000 --dim 436 --queries 50]

Prints one JSON line per dimension: ``ms`` is the median latency of ``core.search.search``
(float32 GEMM over all clips, ``argpartition`` for the top k, one hit per video),
``reference_ms`` the plain version timed in the same run (float64 similarities, a full
``argsort``, then the same one-hit-per-video filter), and ``ratio = reference_ms / ms``.
``same_hits`` says both returned the same videos.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sopilot_pipeline.core.store.search import build_clip_index, search


def reference_search(vectors: np.ndarray, video: np.ndarray, query: np.ndarray, k: int) -> list:
    sims = vectors.astype(np.float64) @ query.astype(np.float64)
    seen, out = set(), []
    for i in np.argsort(-sims):
        if video[i] not in seen:
            seen.add(int(video[i]))
            out.append(int(video[i]))
            if len(out) == k:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=500)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per_video = args.clips // args.videos
    for dim in (436, 768):  # heuristic-v5, and a V-JEPA2 ViT-L-sized embedding
        entries = [
            (
                {"key": f"v{i}", "role": "trainee", "task_id": "t", "video": f"v{i}.mp4"},
                rng.standard_normal((per_video, dim)).astype(np.float32),
                np.arange(per_video) * 0.5,
                np.arange(per_video) * 0.5 + 1.0,
            )
            for i in range(args.videos)
        ]
        index = build_clip_index(entries, "bench", "none")
        queries = index.vectors[rng.integers(0, len(index.vectors), args.queries)]
        ours, ref, same = [], [], True
        for q in queries:
            t0 = time.perf_counter()
            hits = search(index, q, k=args.k)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            expected = reference_search(index.vectors, index.video, q, args.k)
            ref.append(time.perf_counter() - t0)
            same &= [int(h.partition_key[1:]) for h in hits] == expected
        ms, reference_ms = np.median(ours) * 1e3, np.median(ref) * 1e3
        print(
            json.dumps(
                {
                    "case": f"search-{len(index.vectors)}x{dim}-top{args.k}",
                    "ms": round(float(ms), 2),
                    "reference_ms": round(float(reference_ms), 2),
                    "ratio": round(float(reference_ms / ms), 1),
                    "same_hits": bool(same),
                }
            )
        )


if __name__ == "__main__":
    main()
