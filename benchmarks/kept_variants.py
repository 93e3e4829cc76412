"""A kept accuracy run as RESULTS.md's "detected" and "early" runs, for ``rescore.py``.

    python benchmarks/accuracy.py --harness assembly --seed 9201 --sidecars --keep runs/a9201
    python benchmarks/kept_variants.py runs/a9201 detected runs/d9201
    python benchmarks/kept_variants.py runs/a9201 early runs/e9201
    python benchmarks/rescore.py runs/d9201 --harness assembly --seed 9201

A run rendered with ``--sidecars`` marks every step where the hand leaves rest. Its
copies tell how scoring holds up under other step sources without rendering again:
``detected`` removes the sidecars (the golds' steps detected), ``early`` marks every
boundary ``--early-sec`` (0.4 s) before the hand leaves rest, as an author who counts
the rest before a step as its start would. Either way the golds are segmented again
as ``gold_steps`` does (``segment_gold``); the clips and embeddings are the run's own.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.segment import segment_gold


def _copy_run(kept: Path, out: Path) -> None:
    """The kept folder copied, its truth keyed by the copy's video paths."""
    shutil.copytree(kept, out)
    truth_file = out / "accuracy_truth.json"
    truth = json.loads(truth_file.read_text())
    moved = {key.replace(str(kept), str(out), 1): value for key, value in truth.items()}
    truth_file.write_text(json.dumps(moved, indent=1))


def _earlier(sidecar: Path, early_sec: float) -> None:
    """Every boundary of an authored sidecar moved ``early_sec`` earlier (the video's
    start and end stay)."""
    with sidecar.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for k, row in enumerate(rows):
        if k > 0:
            row["start_sec"] = f"{max(0.0, float(row['start_sec']) - early_sec):.4f}"
        if k < len(rows) - 1:
            row["end_sec"] = f"{max(0.0, float(row['end_sec']) - early_sec):.4f}"
    with sidecar.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, help="a folder kept by accuracy.py --sidecars --keep")
    parser.add_argument("variant", choices=("detected", "early"))
    parser.add_argument("out", type=Path, help="the new folder")
    parser.add_argument("--early-sec", type=float, default=0.4)
    args = parser.parse_args()
    kept, out = args.kept.absolute(), args.out.absolute()
    if out.exists():
        parser.error(f"{out} exists")
    _copy_run(kept, out)
    settings = SopilotSettings(data_dir=str(out / "data"))
    layout = settings.layout
    sidecars = sorted(layout.watch.glob("*/gold/*.steps.csv"))
    if not sidecars:
        parser.error(f"{kept} has no steps sidecars: keep a run rendered with --sidecars")
    for sidecar in sidecars:
        if args.variant == "detected":
            sidecar.unlink()
        else:
            _earlier(sidecar, args.early_sec)
    for meta_file in sorted((layout.embeddings / "gold").glob("*.json")):
        metadata, _ = segment_gold(layout, meta_file.stem, settings)
        print(f"{meta_file.stem}: {metadata['num_steps']} steps, {metadata['step_source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
