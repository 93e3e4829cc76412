"""Re-score a kept accuracy run with the scoring code as it is now.

    python benchmarks/accuracy.py --harness assembly --seed 4242 --keep runs/a4242
    python benchmarks/rescore.py runs/a4242 --harness assembly --seed 4242

Rendering and embedding a harness takes most of an accuracy run; a change to step
alignment or the deviation rules does not need them again. This loads the kept run's
clip embeddings and gold steps, explains every trainee against every gold of its task
exactly as ``trainee_alignment`` does (same adapter, feature scale and gold
variations), keeps the best gold, and grades the deviations as ``accuracy.py`` does.
For tuning seeds only: an evaluation seed is run once, through the whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sopilot_pipeline.core.scoring.explain import align_to_golds
from sopilot_pipeline.core.scoring.score import best_gold
from sopilot_pipeline.core.store.layout import read_json
from sopilot_pipeline.defs.align import TaskGolds, adapted_trainee_for
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.evaluate import Findings, grade_outputs, harness_jobs


def rescored_findings(settings: SopilotSettings) -> Findings:
    layout = settings.layout
    task_golds = TaskGolds(layout, settings.scoring)
    score_of: dict[tuple[str, str], float] = {}
    rows: list[dict] = []
    for meta_file in sorted((layout.embeddings / "trainee").glob("*.json")):
        meta, loaded, adapted = adapted_trainee_for(layout, task_golds, meta_file.stem)
        if loaded is None:
            continue
        _, golds, variations = loaded
        alignments = align_to_golds(golds, adapted, settings.scoring)
        best, result = best_gold(golds, adapted, alignments, variations, settings.scoring)
        gold_video = read_json(layout.clip_meta("gold", best))["video"]
        score_of[(meta["task_id"], meta["video"])] = result.score
        rows += [
            {
                "task_id": meta["task_id"],
                "trainee_video": meta["video"],
                "gold_video": gold_video,
                "type": d.type,
                "gold_step": d.gold_step,
            }
            for d in result.deviations
        ]
    return score_of, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="a folder kept by accuracy.py --keep")
    parser.add_argument("--harness", choices=("demo", "assembly"), default="demo")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="write the full report as JSON here")
    args = parser.parse_args()
    workdir = args.workdir.absolute()
    settings = SopilotSettings(data_dir=str(workdir / "data"))
    jobs = harness_jobs(settings.layout.watch, args.harness, args.tasks, args.seed)
    truth = json.loads((workdir / "accuracy_truth.json").read_text())
    report = grade_outputs(settings, jobs, truth, args.tasks, rescored_findings(settings))
    print(report.markdown())
    for line in report.mismatches:
        print(f"  mismatch: {line}")
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
