"""Boundary F1 of gold step detection on a harness's golds, without the pipeline.

    python benchmarks/step_detection.py --harness assembly --seeds 5454 5555
    python benchmarks/step_detection.py --harness demo --seeds 7 11 --keep runs/golds

Renders only the golds of each seed (about a minute a seed on 2 cores), embeds them as
``gold_embeddings`` does (heuristic embedder, ``SOPILOT_TARGET_FPS`` 4), and detects
their steps with every detector (``auto``, ``rest``, ``kernel``). Prints the pooled F1
per detector at +-0.5 s and every gold that ``auto`` gets wrong. ``--keep`` saves each
gold's clips and truth (``.npz``) to run the detectors again without rendering.
For tuning seeds (``STEP_DETECTION_SEEDS``, ``TUNING_SEEDS``, the demo harness's);
evaluation seeds are run once, through the whole pipeline (``accuracy.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder
from sopilot_pipeline.core.harness import accuracy, assembly_harness
from sopilot_pipeline.core.segment.steps import StepDetectionConfig, detect_gold_steps
from sopilot_pipeline.core.video.decode import sampled_frames

METHODS = ("auto", "rest", "kernel")


def _embedded_gold(job) -> tuple[str, dict[str, np.ndarray]]:
    """Render one gold and embed it; its clips and the truth's step starts."""
    if isinstance(job, assembly_harness.AssemblyJob):
        _, truth = assembly_harness._render(job)
    else:
        _, truth = accuracy._render(job)
    embedder = HeuristicEmbedder()
    frames = sampled_frames(Path(job.path), 4.0, embedder.frame_size_for(0, 0))
    emb = embedder.embed_frames(frames, 4.0)
    starts = np.array([s["start_sec"] for s in truth["segments"]])
    return job.path, {
        "vectors": emb.vectors,
        "start_sec": emb.start_sec,
        "end_sec": emb.end_sec,
        "truth": starts,
    }


def rendered_golds(harness: str, seed: int, workers: int) -> dict[str, dict[str, np.ndarray]]:
    """Every gold of a harness seed, embedded: name -> clips and truth."""
    with tempfile.TemporaryDirectory() as watch:
        if harness == "assembly":
            jobs = assembly_harness.assembly_render_jobs(watch, 8, seed)
        else:
            jobs = accuracy.accuracy_render_jobs(watch, 6, seed)
        jobs = [j for j in jobs if j.role == "gold"]
        for job in jobs:
            Path(job.path).parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(_embedded_gold, jobs))
        return {f"{harness}-{seed}/{Path(p).relative_to(watch).as_posix()}": g for p, g in done}


def detected_f1(golds: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, float], list[str]]:
    """Pooled boundary F1 per detector, and a line for every gold ``auto`` gets wrong."""
    groups = HeuristicEmbedder().feature_groups
    counts = {m: np.zeros(3, dtype=np.int64) for m in METHODS}
    wrong = []
    for name, g in sorted(golds.items()):
        want = [float(t) for t in g["truth"][1:]]
        for method in METHODS:
            steps = detect_gold_steps(
                g["vectors"], g["start_sec"], g["end_sec"], groups, StepDetectionConfig(method)
            )
            got = [s.start_sec for s in steps[1:]]
            hits, found, true = accuracy.boundary_f1(want, got)
            counts[method] += (hits, found, true)
            if method == "auto" and (hits, found) != (true, true):
                wrong.append(f"{name}: truth {[round(t, 1) for t in want]}, auto {got}")
    return {m: accuracy.f1_from_counts(*map(int, c)) for m, c in counts.items()}, wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", choices=("assembly", "demo"), default="assembly")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5454])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="save each gold's clips and truth here")
    args = parser.parse_args()
    golds: dict[str, dict[str, np.ndarray]] = {}
    for seed in args.seeds:
        golds |= rendered_golds(args.harness, seed, args.workers)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for name, g in golds.items():
            np.savez(args.keep / (name.replace("/", "__") + ".npz"), **g)
    f1, wrong = detected_f1(golds)
    print("| detector | boundary F1 at +-0.5 s |\n|---|---|")
    for method, value in f1.items():
        print(f"| `{method}` | {value:.3f} |")
    print(f"\n{len(golds)} golds; `auto` wrong on {len(wrong)}:")
    for line in wrong:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
