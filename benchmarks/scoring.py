"""Time what scores a trainee: the edit search of one trainee against one gold.

    python benchmarks/scoring.py                # the cases below
    python benchmarks/scoring.py --skip-reference-over 600   # leave out slow reference runs

Clip embeddings are synthetic (a prototype per step plus noise, 0.5 s clip stride); the
trainee leaves out one step and swaps two others. ``ms`` is ``align_to_gold``'s edit
search (``explain_trainee``, candidate totals from ``core/align/edit_totals.py``);
``reference_ms`` is the search it replaced (``benchmarks/reference_edit_search.py``, one
full row-graph DTW per candidate), timed in the same run on the same cost matrix;
``same`` says both kept the same edits, order and total. ``peak_rss_mb`` is the
process's peak so far.

Where CuPy sees a CUDA device, ``ms`` is the search with each round's candidate totals
in one kernel launch (``core/align/edit_totals_gpu.py``) and ``cpu_ms`` the same search
with ``SOPILOT_DTW_DEVICE=cpu`` in the same run (``same_as_cpu``: same edits, order and
total); a last row times a backfill's lockstep search of ``--lockstep`` trainees
(``explain_trainees``), all their rounds' candidates one launch per round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference_edit_search import explain_trainee_reference  # noqa: E402
from sopilot_pipeline.core.align.edit_totals_gpu import gpu_available  # noqa: E402
from sopilot_pipeline.core.embed.series import ClipSeries  # noqa: E402
from sopilot_pipeline.core.scoring.explain import _cost_in_contrast_units  # noqa: E402
from sopilot_pipeline.core.scoring.results import ScoringConfig  # noqa: E402
from sopilot_pipeline.core.scoring.step_alignment import (  # noqa: E402
    SearchPrices,
    explain_trainee,
    explain_trainees,
)
from sopilot_pipeline.core.segment.steps import Step  # noqa: E402

CLIP_SEC = 0.5
CASES = ((5, 15), (10, 20), (10, 40), (20, 30), (60, 60))  # (minutes, steps)


def _series(plan: list[int], prototypes: np.ndarray, rng: np.random.Generator) -> ClipSeries:
    x = prototypes[plan] + rng.normal(scale=0.6, size=(len(plan), prototypes.shape[1]))
    start = np.arange(len(plan)) * CLIP_SEC
    return ClipSeries(x.astype(np.float32), start, start + 1.0)


def case(minutes: int, k: int, seed: int = 0) -> tuple[np.ndarray, tuple[Step, ...]]:
    rng = np.random.default_rng(seed)
    clips = int(minutes * 60 / CLIP_SEC)
    lengths = rng.multinomial(clips - 2 * k, np.ones(k) / k) + 2
    edges = np.concatenate([[0], np.cumsum(lengths)])
    steps = tuple(
        Step(i, int(a), int(b), a * CLIP_SEC, b * CLIP_SEC)
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    )
    prototypes = rng.normal(size=(k, 64))
    gold_plan = [i for i in range(k) for _ in range(lengths[i])]
    order = list(range(k))
    order.pop(k // 3)
    order[k // 2], order[k // 2 + 1] = order[k // 2 + 1], order[k // 2]
    trainee_plan = [s for s in order for _ in range(int(lengths[s] * rng.uniform(0.8, 1.2)))]
    gold = _series(gold_plan, prototypes, rng)
    trainee = _series(trainee_plan, prototypes, rng)
    cost, _ = _cost_in_contrast_units(gold, steps, trainee)
    return cost, steps


def _on_cpu(run):  # noqa: ANN001, ANN202 - any callable, its result
    """``run()`` with the search forced onto the CPU, and its milliseconds."""
    os.environ["SOPILOT_DTW_DEVICE"] = "cpu"
    try:
        t0 = time.perf_counter()
        result = run()
        return result, (time.perf_counter() - t0) * 1000
    finally:
        del os.environ["SOPILOT_DTW_DEVICE"]


def _same(a, b) -> bool:  # noqa: ANN001 - two (path, edits) answers
    return (
        a[0].order == b[0].order
        and [(e.kind, e.steps) for e in a[1]] == [(e.kind, e.steps) for e in b[1]]
        and bool(np.isclose(a[0].total_cost, b[0].total_cost))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-reference-over", type=int, default=30, help="minutes")
    parser.add_argument("--lockstep", type=int, default=32, help="trainees (GPU only)")
    args = parser.parse_args()
    c = ScoringConfig()
    prices = (c.extra_cost, c.delete_price, c.swap_price, c.found_cost)
    gpu = gpu_available()
    explain_trainee(*case(1, 6), *prices)  # compile the kernels outside the timing
    for minutes, k in CASES:
        cost, steps = case(minutes, k)
        t0 = time.perf_counter()
        fast, fast_edits = explain_trainee(cost, steps, *prices)
        ms = (time.perf_counter() - t0) * 1000
        row: dict = {"case": f"{minutes}min-{k}steps", "clips": cost.shape[1], "ms": round(ms)}
        if gpu:
            cpu, cpu_ms = _on_cpu(
                lambda cost=cost, steps=steps: explain_trainee(cost, steps, *prices)
            )
            row |= {
                "cpu_ms": round(cpu_ms),
                "gpu_ratio": round(cpu_ms / ms, 1),
                "same_as_cpu": _same((fast, fast_edits), cpu),
            }
        if minutes <= args.skip_reference_over:
            t0 = time.perf_counter()
            ref, ref_edits = explain_trainee_reference(cost, steps, *prices)
            ref_ms = (time.perf_counter() - t0) * 1000
            row |= {
                "reference_ms": round(ref_ms),
                "ratio": round(ref_ms / ms, 1),
                "same": _same((fast, fast_edits), (ref, ref_edits)),
            }
        row["edits"] = [f"{e.kind} {[s + 1 for s in e.steps]}" for e in fast_edits]
        row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(row), flush=True)
    if gpu and args.lockstep:
        pairs = [case(10, 20, seed) for seed in range(args.lockstep)]
        search = SearchPrices(*prices)
        t0 = time.perf_counter()
        batched = explain_trainees(pairs, search)
        ms = (time.perf_counter() - t0) * 1000
        cpu, cpu_ms = _on_cpu(lambda: explain_trainees(pairs, search))
        row = {
            "case": f"lockstep-{args.lockstep}x10min-20steps",
            "ms": round(ms),
            "cpu_ms": round(cpu_ms),
            "gpu_ratio": round(cpu_ms / ms, 1),
            "same_as_cpu": all(_same(a, b) for a, b in zip(batched, cpu, strict=True)),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
