"""Deviation-detection accuracy of the real pipeline on the rendered harness.

    python benchmarks/accuracy.py                 # 6 tasks, seed 2026 (README table)
    python benchmarks/accuracy.py --tasks 12 --seed 7 --json out.json
    python benchmarks/accuracy.py --harness assembly --tasks 8 --seed 8101   # evaluation
    python benchmarks/accuracy.py --harness assembly --seed 4242              # tuning
    python benchmarks/accuracy.py --harness assembly --seed 8101 --sidecars   # authored steps

Renders procedures with exact ground truth (4-9 steps, per-step speed variation, camera
shake and offset, lighting drift and sudden change, sensor noise) and trainees with
injected deviations, runs ``sopilot-pipeline`` on them with a throwaway Dagster
instance, and prints per-type precision/recall/F1, the false-deviation rate on clean
trainees, step-boundary F1 at +-0.5 s for both step detectors, and Spearman correlation
between score and injected severity. Exit code 1 when a goal figure is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sopilot_pipeline.evaluate import evaluate_accuracy

GOALS = {
    "missing_step": 0.95,
    "swapped_step": 0.95,
    "over_time": 0.9,
    "extra_step": 0.9,
}
CLEAN_GOAL = 0.95
SPEARMAN_GOAL = 0.9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write the full report as JSON here")
    parser.add_argument("--harness", choices=("demo", "assembly"), default="demo")
    parser.add_argument("--sidecars", action="store_true", help="authored steps for the golds")
    parser.add_argument(
        "--keep", help="work in this (new) folder and keep it, for benchmarks/rescore.py"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sopilot-accuracy-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        if args.keep:
            workdir.mkdir(parents=True)
        report = evaluate_accuracy(
            workdir,
            args.tasks,
            args.seed,
            args.workers,
            harness=args.harness,
            sidecars=args.sidecars,
        )
    print(report.markdown())
    for line in report.mismatches:
        print(f"  mismatch: {line}")
    if args.json:
        Path(args.json).write_text(report.to_json())
    missed = [k for k, goal in GOALS.items() if report.per_type[k]["f1"] < goal]
    if report.clean_without_deviation < CLEAN_GOAL:
        missed.append("clean trainees")
    if not report.spearman >= SPEARMAN_GOAL:
        missed.append("spearman")
    print(f"goals missed: {', '.join(missed) or 'none'}; seconds: {report.seconds}")
    return 1 if missed or report.failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
