"""Accuracy harness: procedure videos with injected deviations, and how to grade results.

Every trainee video is a plan over its task's gold steps (see ``demo.Variant``), so the
truth is exact: which deviation of which type at which gold step, and how severe it
should be. Grading matches predicted to injected deviations on (type, gold step).

Conventions (shared with ``scoring``):

* ``missing_step``: the gold step not performed; a trainee who stops early misses
  each step of the tail.
* ``swapped_step``: the earlier gold step of an adjacent pair done in reverse order.
* ``over_time``: the gold step that took at least 1.5x its gold duration.
* ``extra_step``: the gold step performed just before the unrelated action
  (-1 when it came before every step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sopilot_pipeline.core.harness.demo import TaskSpec, Variant, make_task, render_variant

GRADED_TYPES = ("missing_step", "swapped_step", "over_time", "extra_step")

# Points a deviation should cost, by the default ScoringConfig penalties; the severity
# of a trainee is their sum, so Spearman(score, -severity) says whether scores rank
# trainees the way the injected deviations do.
SEVERITY_POINTS = {"missing_step": 15.0, "swapped_step": 10.0, "extra_step": 5.0}
OVER_TIME_POINTS_PER_RATIO = 6.0


def _speeds(rng: np.random.Generator, k: int, spread: float = 0.15) -> list[float]:
    return [float(rng.uniform(1 - spread, 1 + spread)) for _ in range(k)]


def _dev(kind: str, step: int, **extra: float) -> dict:
    return {"type": kind, "gold_step": int(step), **extra}


def harness_variants(task: TaskSpec, seed: int, clean_repeats: int = 3) -> list[Variant]:
    """Clean repeats and one trainee per kind of deviation, with random placements."""
    rng = np.random.default_rng(seed)
    k = len(task.steps)
    out = [
        Variant(f"clean_{i + 1}", tuple(zip(range(k), _speeds(rng, k), strict=True)), {})
        for i in range(clean_repeats)
    ]

    sp = _speeds(rng, k)
    miss = int(rng.integers(0, k - 1))
    out.append(
        Variant(
            f"missing_{miss + 1}",
            tuple((s, sp[s]) for s in range(k) if s != miss),
            {"deviations": [_dev("missing_step", miss)]},
        )
    )
    if k >= 6:
        sp = _speeds(rng, k)
        a = int(rng.integers(0, k - 3))
        b = int(rng.integers(a + 2, k - 1))
        out.append(
            Variant(
                f"missing_{a + 1}_and_{b + 1}",
                tuple((s, sp[s]) for s in range(k) if s not in (a, b)),
                {"deviations": [_dev("missing_step", a), _dev("missing_step", b)]},
            )
        )

    sp = _speeds(rng, k)
    swap = int(rng.integers(0, k - 1))
    order = list(range(k))
    order[swap], order[swap + 1] = order[swap + 1], order[swap]
    out.append(
        Variant(
            f"swapped_{swap + 1}_{swap + 2}",
            tuple((s, sp[s]) for s in order),
            {"deviations": [_dev("swapped_step", swap)]},
        )
    )

    sp = _speeds(rng, k, spread=0.1)
    slow = int(rng.integers(0, k))
    ratio = float(rng.uniform(1.6, 2.4))
    sp[slow] = ratio
    out.append(
        Variant(
            f"slow_{slow + 1}_x{ratio:.1f}",
            tuple(zip(range(k), sp, strict=True)),
            {"deviations": [_dev("over_time", slow, ratio=ratio)]},
        )
    )

    sp = _speeds(rng, k)
    after = int(rng.integers(0, k - 1))
    plan = [(s, sp[s]) for s in range(after + 1)]
    plan.append((-1, float(rng.uniform(0.9, 1.3))))
    plan += [(s, sp[s]) for s in range(after + 1, k)]
    out.append(
        Variant(
            f"extra_after_{after + 1}",
            tuple(plan),
            {"deviations": [_dev("extra_step", after)]},
        )
    )

    sp = _speeds(rng, k)
    dropped = 1 if k < 6 else 2
    out.append(
        Variant(
            f"stops_after_{k - dropped}",
            tuple((s, sp[s]) for s in range(k - dropped)),
            {"deviations": [_dev("missing_step", s) for s in range(k - dropped, k)]},
        )
    )
    return out


def injected_severity(deviations: Iterable[dict]) -> float:
    total = 0.0
    for d in deviations:
        if d["type"] == "over_time":
            total += OVER_TIME_POINTS_PER_RATIO * min(1.0, d.get("ratio", 2.0) - 1.0)
        else:
            total += SEVERITY_POINTS[d["type"]]
    return total


@dataclass(frozen=True)
class TypeScore:
    type: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def truth_step_of(
    segments: Sequence[dict], start_sec: float | None, end_sec: float | None
) -> int | None:
    """The task step (``gold_step`` of a truth segment) a span of a gold video covers
    most: how a reported step index, of whichever gold and however detected, is graded
    by what was actually done there."""
    if start_sec is None or end_sec is None:
        return None
    overlap = [
        (min(end_sec, s["end_sec"]) - max(start_sec, s["start_sec"]), s["gold_step"])
        for s in segments
    ]
    best = max(overlap, default=(0.0, None))
    return best[1] if best[0] > 0 else None


def grade_deviations(
    truth: Sequence[Iterable[tuple[str, int]]],
    predicted: Sequence[Iterable[tuple[str, int]]],
    types: Sequence[str] = GRADED_TYPES,
) -> dict[str, TypeScore]:
    """Per-type counts over trainees; a prediction is right when type and gold step agree."""
    counts = {t: [0, 0, 0] for t in types}
    for want, got in zip(truth, predicted, strict=True):
        want_set, got_set = set(want), set(got)
        for kind in types:
            w = {d for d in want_set if d[0] == kind}
            g = {d for d in got_set if d[0] == kind}
            counts[kind][0] += len(w & g)
            counts[kind][1] += len(g - w)
            counts[kind][2] += len(w - g)
    return {t: TypeScore(t, *c) for t, c in counts.items()}


BOUNDARY_TOLERANCE_SEC = 0.5


def boundary_f1(
    truth: Sequence[float],
    predicted: Sequence[float],
    tolerance_sec: float = BOUNDARY_TOLERANCE_SEC,
) -> tuple[int, int, int]:
    """(hits, predicted, true) with one-to-one matching within ``tolerance_sec``;
    closest pairs are matched first."""
    pairs = sorted(
        (abs(p - t), i, j)
        for i, p in enumerate(predicted)
        for j, t in enumerate(truth)
        if abs(p - t) <= tolerance_sec
    )
    used_p: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return len(used_p), len(predicted), len(truth)


def f1_from_counts(hits: int, predicted: int, true: int) -> float:
    p = hits / predicted if predicted else 1.0
    r = hits / true if true else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Rank correlation with average ranks for ties (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    if len(x) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


@dataclass(frozen=True)
class RenderJob:
    task: TaskSpec
    variant: Variant
    path: str
    seed: int
    fps: int
    size: tuple[int, int]
    nuisance: dict

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def role(self) -> str:
        return "gold" if self.variant.name == "gold" else "trainee"

    @property
    def deviations(self) -> list[dict]:
        return list(self.variant.injected.get("deviations", []))

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(f"step {k + 1}" for k in range(len(self.task.steps)))


def _nuisance(rng: np.random.Generator, duration_guess: float, is_gold: bool) -> dict:
    """Camera shake, noise, drift and (half the time) a lighting change mid-video."""
    out: dict = {
        "jitter_px": float(rng.uniform(0.5, 1.5)),
        "noise": float(rng.uniform(1.5, 4.0)),
        "brightness_drift": float(rng.uniform(-0.15, 0.15)),
    }
    if rng.random() < 0.5:
        out["light_change"] = (
            float(rng.uniform(0.2, 0.8) * duration_guess),
            float(rng.choice([0.82, 0.88, 1.12, 1.2])),
        )
    if not is_gold:
        out["offset_px"] = (int(rng.integers(-4, 5)), int(rng.integers(-3, 4)))
    return out


def _render(job: RenderJob) -> tuple[str, dict]:
    truth = render_variant(
        job.task, job.variant, Path(job.path), job.fps, job.size, job.seed, **job.nuisance
    )
    return job.path, {**truth, "nuisance": job.nuisance}


HARNESS_STEP_COUNTS = (4, 5, 6, 7, 8, 9)


def accuracy_render_jobs(
    watch_dir: str,
    num_tasks: int = 6,
    seed: int = 2026,
    fps: int = 12,
    size: tuple[int, int] = (320, 240),
) -> list[RenderJob]:
    """One gold and a set of trainees per task, as watch-folder paths."""
    rng = np.random.default_rng(seed)
    jobs = []
    for t in range(num_tasks):
        k = HARNESS_STEP_COUNTS[t % len(HARNESS_STEP_COUNTS)]
        task_seed = int(rng.integers(1 << 30))
        task = make_task(f"procedure_{t + 1:02d}_{k}_steps", k, task_seed)
        approx = sum(s.duration_sec for s in task.steps)
        gold = Variant("gold", tuple((s, 1.0) for s in range(k)), {})
        variants = [gold, *harness_variants(task, task_seed + 1)]
        for v in variants:
            role = "gold" if v is gold else "trainee"
            jobs.append(
                RenderJob(
                    task,
                    v,
                    f"{watch_dir}/{task.task_id}/{role}/{v.name}.mp4",
                    int(rng.integers(1 << 30)),
                    fps,
                    size,
                    _nuisance(rng, approx, v is gold),
                )
            )
    return jobs


def write_accuracy_set(jobs: Sequence[RenderJob], workers: int = 2) -> dict:
    """Render every job (in parallel processes) and return the truth keyed by path."""
    if workers <= 1:
        return dict(map(_render, jobs))
    with ProcessPoolExecutor(workers) as pool:
        return dict(pool.map(_render, jobs))
