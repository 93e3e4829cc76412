"""Pipeline overhead at scale: ~100 trainee videos through ``process`` (sensor ticks,
one Dagster run per video and step, Parquet, PDFs) against the same core computation
called directly, timed in the same run.

    python benchmarks/pipeline_scale.py [--tasks 12 --seed 7]

Prints one JSON line: ``ms`` is ``process_watch_folder`` on a throwaway SQLite instance,
``reference_ms`` the direct computation (decode + sample + embed every video, detect gold
steps, fit the adapter, score every trainee: no Dagster, no files written), and
``overhead_share = (ms - reference_ms) / ms``: the time spent on orchestration, storage,
reports and the registration probe rather than on the computation itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance

from sopilot_pipeline.core.accuracy import accuracy_render_jobs, write_accuracy_set
from sopilot_pipeline.core.adapter import fit_feature_adapter
from sopilot_pipeline.core.embed import HeuristicEmbedder
from sopilot_pipeline.core.scoring import ClipSeries, evaluate_trainee
from sopilot_pipeline.core.steps import detect_gold_steps
from sopilot_pipeline.core.video import decode_video
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder


def direct(paths: dict[str, tuple[str, str]], fps: float) -> int:
    """The pipeline's computation without Dagster: returns the number of trainees scored."""
    embedder = HeuristicEmbedder()
    emb = {}
    for path in paths:
        sampled = decode_video(path, fps, embedder.frame_size)
        emb[path] = embedder.embed(sampled.frames, sampled.times, fps)
    golds = {task: p for p, (task, role) in paths.items() if role == "gold"}
    adapter = fit_feature_adapter(
        [emb[p].vectors for p in golds.values()], "bench", embedder.name, embedder.feature_groups
    )
    steps = {
        task: detect_gold_steps(
            emb[p].vectors, emb[p].start_sec, emb[p].end_sec, embedder.feature_groups
        )
        for task, p in golds.items()
    }

    def series(p: str) -> ClipSeries:
        e = emb[p]
        return ClipSeries(adapter.apply(e.vectors), e.start_sec, e.end_sec)

    scored = 0
    for path, (task, role) in paths.items():
        if role == "trainee":
            evaluate_trainee(series(golds[task]), steps[task], series(path))
            scored += 1
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sopilot-scale-") as tmp:
        settings = SopilotSettings(data_dir=str(Path(tmp) / "data"))
        jobs = accuracy_render_jobs(str(settings.layout.watch), args.tasks, args.seed)
        write_accuracy_set(jobs)
        paths = {
            j.path: (j.task.task_id, "gold" if j.variant.name == "gold" else "trainee")
            for j in jobs
        }
        t0 = time.perf_counter()
        scored = direct(paths, settings.target_fps)
        reference_ms = (time.perf_counter() - t0) * 1e3
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        t0 = time.perf_counter()
        outcome = process_watch_folder(
            settle_seconds=0.2, settings=settings, instance=DagsterInstance.local_temp(str(home))
        )
        ms = (time.perf_counter() - t0) * 1e3
    print(
        json.dumps(
            {
                "case": f"process-{scored}-trainees",
                "ms": round(ms),
                "reference_ms": round(reference_ms),
                "ratio": round(ms / reference_ms, 2),
                "overhead_share": round((ms - reference_ms) / ms, 3),
                "runs": outcome.succeeded_runs,
                "failed_runs": len(outcome.failed_runs),
            }
        )
    )


if __name__ == "__main__":
    main()
