"""Pipeline overhead at scale: ~100 trainee videos through ``process`` (sensor ticks,
batched range runs, Parquet, PDFs) against the same core computation called directly,
timed in the same run.

    python benchmarks/pipeline_scale.py [--tasks 12 --seed 7]
    python benchmarks/pipeline_scale.py --footage hd [--trainees 104 --seconds 20]

Prints one JSON line. ``ms`` is ``process_watch_folder`` on a throwaway SQLite instance;
``work_ms`` is the time spent inside the pipeline's own per-partition code (decode,
embed, steps, alignment, score, tables, PDFs), summed from the ``work_seconds`` metadata
of every materialisation; ``dagster_overhead_share = (ms - work_ms) / ms`` is the share
of the wall time that went to Dagster (runs, steps, event log, sensor ticks) rather than
to the work. ``reference_ms`` is the bare computation without Dagster and without
writing anything (decode + sample + embed every video, detect gold steps, fit the
adapter, score every trainee), and ``ratio = ms / reference_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dagster import AssetKey, DagsterInstance, EventLogRecord

from sopilot_pipeline.core.embed.adapter import fit_feature_adapter
from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.harness.accuracy import accuracy_render_jobs, write_accuracy_set
from sopilot_pipeline.core.scoring.score import evaluate_trainee
from sopilot_pipeline.core.segment.steps import detect_gold_steps
from sopilot_pipeline.core.video.decode import decode_video
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
        return ClipSeries(e.vectors, e.start_sec, e.end_sec).mapped(adapter.apply)

    scored = 0
    for path, (task, role) in paths.items():
        if role == "trainee":
            evaluate_trainee(series(golds[task]), steps[task], series(path))
            scored += 1
    return scored


PER_VIDEO_ASSETS = [
    f"{role}_{name}" for role in ("gold", "trainee") for name in ("video", "clip_embeddings")
] + ["gold_steps", "trainee_alignment", "trainee_score"]


def _materializations(instance: DagsterInstance, key: AssetKey) -> Iterator[EventLogRecord]:
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=1000, cursor=cursor)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def pipeline_work_seconds(instance: DagsterInstance) -> float:
    """Sum of ``work_seconds`` over every step: a range run's summary is copied onto each
    of its partitions' events, so count it once per (run, step)."""
    seen: set[tuple[str, str]] = set()
    total = 0.0
    for name in PER_VIDEO_ASSETS:
        for record in _materializations(instance, AssetKey(name)):
            metadata = record.asset_materialization.metadata
            if "work_seconds" not in metadata:
                continue
            if "step_seconds" in metadata:  # a step summary, shared by its partitions
                step = (record.run_id, record.event_log_entry.step_key or name)
                if step in seen:
                    continue
                seen.add(step)
            total += float(metadata["work_seconds"].value)
    return total


def harness_footage(watch: Path, tasks: int, seed: int) -> dict[str, tuple[str, str]]:
    """The accuracy harness: 320x240 12 fps videos of ~13 s, 1 gold and ~8 trainees a task."""
    jobs = accuracy_render_jobs(str(watch), tasks, seed)
    write_accuracy_set(jobs)
    return {
        j.path: (j.task.task_id, "gold" if j.variant.name == "gold" else "trainee") for j in jobs
    }


def hd_footage(watch: Path, trainees: int, seconds: float) -> dict[str, tuple[str, str]]:
    """Production-sized videos: one 1280x720 30 fps H.264 render (the ingest benchmark's),
    as the gold and, hard-linked under other names, every trainee of one task."""
    from ingest import render_test_video  # benchmarks/ is on sys.path when run as a script

    gold = watch / "hd_task" / "gold" / "gold.mp4"
    gold.parent.mkdir(parents=True)
    render_test_video(gold, seconds)
    paths = {str(gold): ("hd_task", "gold")}
    folder = watch / "hd_task" / "trainee"
    folder.mkdir()
    for i in range(trainees):
        path = folder / f"trainee_{i:03d}.mp4"
        os.link(gold, path)
        paths[str(path)] = ("hd_task", "trainee")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", choices=["harness", "hd"], default="harness")
    parser.add_argument("--tasks", type=int, default=12, help="harness: tasks (~8.7 trainees each)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trainees", type=int, default=104, help="hd: trainee videos")
    parser.add_argument("--seconds", type=float, default=20.0, help="hd: video length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sopilot-scale-") as tmp:
        settings = SopilotSettings(data_dir=str(Path(tmp) / "data"))
        if args.footage == "harness":
            paths = harness_footage(settings.layout.watch, args.tasks, args.seed)
        else:
            paths = hd_footage(settings.layout.watch, args.trainees, args.seconds)
        t0 = time.perf_counter()
        scored = direct(paths, settings.target_fps)
        reference_ms = (time.perf_counter() - t0) * 1e3
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        t0 = time.perf_counter()
        # the embedded default of dagster.yaml: SQLite storage, telemetry off
        (home / "dagster.yaml").write_text(
            f"storage:\n  sqlite:\n    base_dir: {home / 'storage'}\ntelemetry:\n  enabled: false\n"
        )
        instance = DagsterInstance.from_config(str(home))
        outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
        ms = (time.perf_counter() - t0) * 1e3
        work_ms = pipeline_work_seconds(instance) * 1e3
    print(
        json.dumps(
            {
                "case": f"process-{scored}-trainees-{args.footage}",
                "ms": round(ms),
                "reference_ms": round(reference_ms),
                "ratio": round(ms / reference_ms, 2),
                "work_ms": round(work_ms),
                "dagster_overhead_share": round((ms - work_ms) / ms, 3),
                "dagster_ms_per_video": round((ms - work_ms) / len(paths)),
                "runs": outcome.succeeded_runs,
                "failed_runs": len(outcome.failed_runs),
            }
        )
    )


if __name__ == "__main__":
    main()
