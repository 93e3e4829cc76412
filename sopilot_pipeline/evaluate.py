"""Accuracy evaluation: render procedures with known deviations, run the real pipeline
on them (watch folder, sensor, Dagster runs, Parquet tables) and grade what it wrote.

Used by ``sopilot-pipeline evaluate`` and ``benchmarks/accuracy.py``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dagster import DagsterInstance

from sopilot_pipeline.core.embed.registry import feature_groups
from sopilot_pipeline.core.harness import accuracy
from sopilot_pipeline.core.segment.authored_steps import sidecar_path
from sopilot_pipeline.core.segment.steps import StepDetectionConfig, detect_gold_steps
from sopilot_pipeline.core.store.embeddings import gold_keys_for_task, load_clip_series
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder


@dataclass
class AccuracyReport:
    tasks: int
    gold_videos: int
    trainee_videos: int
    scored: int
    per_type: dict[str, dict[str, float]]
    clean_without_deviation: float
    clean_trainees: int
    boundary_f1: float
    boundary_counts: tuple[int, int, int]
    spearman: float
    step_methods: dict[str, float] = field(default_factory=dict)
    failed_runs: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def markdown(self) -> str:
        lines = [
            "| deviation type | precision | recall | F1 | TP | FP | FN |",
            "|---|---|---|---|---|---|---|",
        ]
        for kind, s in self.per_type.items():
            lines.append(
                f"| {kind} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} "
                f"| {s['tp']} | {s['fp']} | {s['fn']} |"
            )
        hits, predicted, true = self.boundary_counts
        lines += [
            "",
            "| measure | value |",
            "|---|---|",
            f"| clean trainees with no deviation | {self.clean_without_deviation:.3f} "
            f"({self.clean_trainees} clean) |",
            f"| step-boundary F1 at +-{accuracy.BOUNDARY_TOLERANCE_SEC:g} s (gold videos) "
            f"| {self.boundary_f1:.3f} "
            f"({hits} hits, {predicted} found, {true} true) |",
            f"| Spearman(score, -injected severity) | {self.spearman:.3f} |",
        ]
        for method, f1 in self.step_methods.items():
            lines.append(f"| boundary F1, `{method}` detector | {f1:.3f} |")
        lines.append(
            f"| videos | {self.tasks} tasks, {self.gold_videos} gold, "
            f"{self.trainee_videos} trainee, {self.scored} scored |"
        )
        return "\n".join(lines)


def _table(settings: SopilotSettings, name: str):
    import polars as pl

    layout = settings.layout
    if not any((layout.tables / name).rglob("*.parquet")):
        return None
    return pl.read_parquet(layout.table_glob(name), hive_partitioning=True)


def step_method_f1(settings: SopilotSettings, golds: dict[tuple[str, str], dict]) -> dict:
    """Boundary F1 of each step detector on the pipeline's stored gold embeddings
    (``golds``: ground truth keyed by (task, gold video name))."""
    layout = settings.layout
    out = {}
    configs = {
        "auto": StepDetectionConfig(method="auto"),
        "rest": StepDetectionConfig(method="rest"),
        "kernel": StepDetectionConfig(method="kernel"),
        "novelty": StepDetectionConfig(method="novelty"),
    }
    tasks = {task for task, _ in golds}
    for name, config in configs.items():
        hits = predicted = true = 0
        for task in sorted(tasks):
            for key in gold_keys_for_task(layout, task, settings.embedder.name):
                series, meta = load_clip_series(layout, "gold", key)
                want = golds.get((task, meta["video"]))
                if want is None:
                    continue
                steps = detect_gold_steps(
                    series.vectors,
                    series.start_sec,
                    series.end_sec,
                    feature_groups(meta["embedder"]),
                    config,
                )
                h, p, t = accuracy.boundary_f1(
                    [s["start_sec"] for s in want["segments"][1:]],
                    [s.start_sec for s in steps[1:]],
                )
                hits, predicted, true = hits + h, predicted + p, true + t
        out[name] = accuracy.f1_from_counts(hits, predicted, true)
    return out


HARNESSES = ("demo", "assembly")


def render_harness(
    watch: Path, harness: str, num_tasks: int, seed: int, workers: int
) -> tuple[list, dict]:
    """Render a harness into the watch folder: its jobs and the truth keyed by path."""
    jobs = harness_jobs(watch, harness, num_tasks, seed)
    if harness == "assembly":
        from sopilot_pipeline.core.harness import assembly_harness

        return jobs, assembly_harness.write_assembly_set(jobs, workers)
    return jobs, accuracy.write_accuracy_set(jobs, workers)


def harness_jobs(watch: Path, harness: str, num_tasks: int, seed: int) -> list:
    """What a harness renders (cheap: nothing is drawn), as watch-folder paths."""
    if harness == "assembly":
        from sopilot_pipeline.core.harness import assembly_harness

        return assembly_harness.assembly_render_jobs(str(watch), num_tasks, seed)
    if harness != "demo":
        raise ValueError(f"unknown harness {harness!r}; one of {', '.join(HARNESSES)}")
    return accuracy.accuracy_render_jobs(str(watch), num_tasks, seed)


def write_truth_sidecars(jobs: list, truth: dict) -> int:
    """Authored steps for every gold, from its truth (what a gold's author would write)."""
    count = 0
    for job in jobs:
        if job.role != "gold":
            continue
        lines = ["start_sec,end_sec,name"]
        for seg in truth[job.path]["segments"]:
            name = job.step_names[seg["gold_step"]].replace('"', "'")
            lines.append(f'{seg["start_sec"]:.3f},{seg["end_sec"]:.3f},"{name}"')
        sidecar_path(Path(job.path)).write_text("\n".join(lines) + "\n", encoding="utf-8")
        count += 1
    return count


def evaluate_accuracy(
    workdir: Path,
    num_tasks: int = 6,
    seed: int = 2026,
    workers: int = 2,
    settings: SopilotSettings | None = None,
    harness: str = "demo",
    sidecars: bool = False,
) -> AccuracyReport:
    """Render a harness into ``workdir/watch`` (with authored-step sidecars for the
    golds when ``sidecars``), process it, and grade the tables by what was done.

    A reported deviation names a step of the gold it was scored against; it is graded
    as the task step that gold performed over that step's span (steps table), so a
    deviation found against a second gold, or on steps detected at other indices, is
    right when it names what the trainee really did.
    """
    workdir = Path(workdir).absolute()
    settings = settings or SopilotSettings(data_dir=str(workdir / "data"))
    watch = settings.layout.watch
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    jobs, truth = render_harness(watch, harness, num_tasks, seed, workers)
    if sidecars:
        write_truth_sidecars(jobs, truth)
    seconds["render"] = time.perf_counter() - t0
    (workdir / "accuracy_truth.json").write_text(json.dumps(truth, indent=1, default=str))

    t0 = time.perf_counter()
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance = DagsterInstance.local_temp(str(home))
    outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    seconds["pipeline"] = time.perf_counter() - t0
    report = grade_outputs(settings, jobs, truth, num_tasks, table_findings(settings))
    report.failed_runs = list(outcome.failed_runs)
    report.seconds = {k: round(v, 1) for k, v in seconds.items()}
    return report


Findings = tuple[dict[tuple[str, str], float], list[dict]]


def table_findings(settings: SopilotSettings) -> Findings:
    """What the pipeline wrote: score per (task, trainee video) and deviation rows."""
    scores = _table(settings, "scores")
    deviations = _table(settings, "deviations")
    score_of: dict[tuple[str, str], float] = {}
    if scores is not None:
        for row in scores.iter_rows(named=True):
            score_of[(row["task_id"], row["trainee_video"])] = row["score"]
    rows = list(deviations.iter_rows(named=True)) if deviations is not None else []
    return score_of, rows


def grade_outputs(
    settings: SopilotSettings, jobs: list, truth: dict, num_tasks: int, findings: Findings
) -> AccuracyReport:
    """Grade scores and deviation rows (``findings``) against what was injected."""
    injected: dict[tuple[str, str], set[tuple[str, int | None]]] = {}
    severity: dict[tuple[str, str], float] = {}
    golds: dict[tuple[str, str], dict] = {}
    for job in jobs:
        key = (job.task_id, Path(job.path).name)
        if job.role == "gold":
            golds[key] = truth[job.path]
            continue
        devs = job.deviations
        injected[key] = {(d["type"], d["gold_step"]) for d in devs}
        severity[key] = accuracy.injected_severity(devs)

    steps = _table(settings, "steps")
    spans: dict[tuple[str, str, int], tuple[float, float]] = {}
    if steps is not None:
        for row in steps.iter_rows(named=True):
            spans[(row["task_id"], row["gold_video"], row["step"])] = (
                row["start_sec"],
                row["end_sec"],
            )

    def task_step(task: str, gold_video: str, step: int | None) -> int | None:
        if step is None or (task, gold_video) not in golds:
            return step
        span = spans.get((task, gold_video, step), (None, None))
        return accuracy.truth_step_of(golds[(task, gold_video)]["segments"], *span)

    score_of, deviation_rows = findings
    found: dict[tuple[str, str], set[tuple[str, int | None]]] = {k: set() for k in injected}
    for row in deviation_rows:
        key = (row["task_id"], row["trainee_video"])
        if key in found:
            step = task_step(row["task_id"], row["gold_video"], row["gold_step"])
            found[key].add((row["type"], step))

    keys = sorted(injected)
    graded = accuracy.grade_deviations([injected[k] for k in keys], [found[k] for k in keys])
    per_type = {
        kind: {
            "precision": s.precision,
            "recall": s.recall,
            "f1": s.f1,
            "tp": s.true_positives,
            "fp": s.false_positives,
            "fn": s.false_negatives,
        }
        for kind, s in graded.items()
    }
    clean = [k for k in keys if not injected[k]]
    clean_ok = sum(1 for k in clean if k in score_of and not found[k])
    mismatches = [
        f"{task}/{video}: injected {sorted(injected[(task, video)], key=str)}, "
        f"reported {sorted(found[(task, video)], key=str)}"
        + ("" if (task, video) in score_of else " (not scored)")
        for task, video in keys
        if injected[(task, video)] != found[(task, video)] or (task, video) not in score_of
    ]

    hits = predicted = true = 0
    if steps is not None:
        for (task, video), want in golds.items():
            rows = steps.filter((steps["task_id"] == task) & (steps["gold_video"] == video))
            got = sorted(rows["start_sec"].to_list())[1:]
            h, p, t = accuracy.boundary_f1([s["start_sec"] for s in want["segments"][1:]], got)
            hits, predicted, true = hits + h, predicted + p, true + t

    scored = [k for k in keys if k in score_of]
    rho = accuracy.spearman([score_of[k] for k in scored], [-severity[k] for k in scored])
    return AccuracyReport(
        tasks=num_tasks,
        gold_videos=len(golds),
        trainee_videos=len(keys),
        scored=len(scored),
        per_type=per_type,
        clean_without_deviation=clean_ok / len(clean) if clean else math.nan,
        clean_trainees=len(clean),
        boundary_f1=accuracy.f1_from_counts(hits, predicted, true),
        boundary_counts=(hits, predicted, true),
        spearman=rho,
        step_methods=step_method_f1(settings, golds),
        mismatches=mismatches,
    )
