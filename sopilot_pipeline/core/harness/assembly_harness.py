"""The evaluation harness on the assembly renderer (``assembly_render``).

Seeds are split by purpose, and fixed before any result on them was seen:

* ``TUNING_SEEDS`` (4242, 4343, 4444, 4545; 4646-4949 added in the tenth session and
  5050-5353 in the eleventh, to study deviations next to other deviations): for
  developing and tuning detection and scoring.
* ``STEP_DETECTION_SEEDS`` (5454, 5555, ... 6363, added in the thirteenth session): their
  golds only, for tuning gold step detection (``benchmarks/step_detection.py``), where
  the tuning seeds' golds had become too few failures to learn from. The trainees of
  5454 and 5555 were scored in the fourteenth session, those of 5656-5959 in the
  sixteenth and those of 6060-6363 in the eighteenth, as a first look at scoring on
  trainees nobody had seen; they are scoring tuning seeds since.
* ``FRESH_TUNING_SEEDS`` (9201-9216, added in the twentieth session before any result on
  them): scoring tuning seeds nobody had seen, because what the older tuning seeds
  taught had mostly stopped carrying over to the evaluation seeds.
* ``EVALUATION_SEEDS`` (8101-8140): for reporting only; never tuned on, each fixed
  before any result on it was seen. 8101-8131 have been run (benchmarks/RESULTS.md
  says on which code; a change was made after 8111, 8112 and 8113, so they count as
  seen); 8132-8140 have not: the next unseen seeds (8118-8120 added in the ninth
  session, 8121-8130 in the tenth, 8131-8140 in the twenty-first, each before any
  result on it).

Each task has one gold, or two golds that perform one pair of neighbouring steps in
opposite orders (both orders are correct). Trainees: clean repeats (in a two-gold task
one follows the second gold's order), one and two missing steps, an adjacent swap, a
slow step, an unrelated action, an early stop. Every trainee has its own actor and a
moved, zoomed and rolled camera. Truth is in task-step indices (the first gold's
order), so a deviation reported against either gold is graded by what was done.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sopilot_pipeline.core.harness.assembly_render import (
    Actor,
    AssemblyTask,
    Camera,
    Performance,
    make_assembly_task,
    random_actor,
    random_camera,
    render_assembly,
)

TUNING_SEEDS = (4242, 4343, 4444, 4545, 4646, 4747, 4848, 4949, 5050, 5151, 5252, 5353)
STEP_DETECTION_SEEDS = tuple(range(5454, 6464, 101))
FRESH_TUNING_SEEDS = tuple(range(9201, 9217))
EVALUATION_SEEDS = tuple(range(8101, 8141))
STEP_COUNTS = (5, 7, 6, 8, 5, 7, 6, 8)
TRAINEE_FORMATS = (  # (suffix, codec, fps, size)
    (".mp4", "libx264", 24, (320, 240)),
    (".avi", "mpeg4", 15, (320, 240)),
    (".mkv", "libx264", 30, (384, 288)),
    (".mp4", "libx264", 20, (352, 264)),
)


@dataclass(frozen=True)
class AssemblyJob:
    task: AssemblyTask
    role: str
    name: str
    performance: Performance
    actor: Actor
    camera: Camera
    path: str
    seed: int
    fps: int
    size: tuple[int, int]
    codec: str

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def deviations(self) -> list[dict]:
        return list(self.performance.deviations)

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.task.steps)


def _dev(kind: str, step: int, **extra: float) -> dict:
    return {"type": kind, "gold_step": int(step), **extra}


def _speeds(rng: np.random.Generator, k: int, spread: float = 0.12) -> list[float]:
    return [float(rng.uniform(1 - spread, 1 + spread)) for _ in range(k)]


def trainee_performances(
    k: int, rng: np.random.Generator, free_pair: int | None
) -> list[tuple[str, Performance]]:
    """Named trainee performances of a k-step task; ``free_pair`` (j: steps j and j+1
    may come in either order) keeps injected swaps away from that pair."""
    out: list[tuple[str, Performance]] = []
    for i in range(3):
        order = list(range(k))
        if free_pair is not None and i == 2:  # the second gold's order
            order[free_pair], order[free_pair + 1] = order[free_pair + 1], order[free_pair]
        sp = _speeds(rng, k)
        out.append((f"clean_{i + 1}", Performance(tuple((s, sp[s]) for s in order))))

    sp = _speeds(rng, k)
    miss = int(rng.integers(0, k - 1))
    plan = tuple((s, sp[s]) for s in range(k) if s != miss)
    out.append((f"missing_{miss + 1}", Performance(plan, (_dev("missing_step", miss),))))
    if k >= 6:
        sp = _speeds(rng, k)
        a = int(rng.integers(0, k - 3))
        b = int(rng.integers(a + 2, k - 1))
        plan = tuple((s, sp[s]) for s in range(k) if s not in (a, b))
        devs = (_dev("missing_step", a), _dev("missing_step", b))
        out.append((f"missing_{a + 1}_and_{b + 1}", Performance(plan, devs)))

    sp = _speeds(rng, k)
    allowed = [
        a for a in range(k - 1) if free_pair is None or a + 1 < free_pair or a > free_pair + 1
    ]
    swap = int(rng.choice(allowed))
    order = list(range(k))
    order[swap], order[swap + 1] = order[swap + 1], order[swap]
    plan = tuple((s, sp[s]) for s in order)
    out.append((f"swapped_{swap + 1}_{swap + 2}", Performance(plan, (_dev("swapped_step", swap),))))

    sp = _speeds(rng, k, spread=0.08)
    slow = int(rng.integers(0, k))
    ratio = float(rng.uniform(1.7, 2.4))
    sp[slow] = ratio
    plan = tuple(zip(range(k), sp, strict=True))
    out.append(
        (
            f"slow_{slow + 1}_x{ratio:.1f}",
            Performance(plan, (_dev("over_time", slow, ratio=ratio),)),
        )
    )

    sp = _speeds(rng, k)
    after = int(rng.integers(0, k - 1))
    plan = (
        tuple((s, sp[s]) for s in range(after + 1))
        + ((-1, float(rng.uniform(0.9, 1.3))),)
        + tuple((s, sp[s]) for s in range(after + 1, k))
    )
    out.append((f"extra_after_{after + 1}", Performance(plan, (_dev("extra_step", after),))))

    sp = _speeds(rng, k)
    dropped = 1 if k < 7 else 2
    plan = tuple((s, sp[s]) for s in range(k - dropped))
    devs = tuple(_dev("missing_step", s) for s in range(k - dropped, k))
    out.append((f"stops_after_{k - dropped}", Performance(plan, devs)))
    return out


def assembly_render_jobs(watch_dir: str, num_tasks: int = 6, seed: int = 4242) -> list[AssemblyJob]:
    """Golds and trainees of ``num_tasks`` tasks as watch-folder paths; every odd task
    has a second gold with one pair of steps in the other order."""
    rng = np.random.default_rng(seed)
    jobs: list[AssemblyJob] = []
    for t in range(num_tasks):
        k = STEP_COUNTS[t % len(STEP_COUNTS)]
        task_seed = int(rng.integers(1 << 30))
        task = make_assembly_task(f"assembly_{t + 1:02d}_{k}_steps", k, task_seed)
        duration = sum(s.duration_sec for s in task.steps) + 0.4 * k
        free_pair = int(rng.integers(1, k - 2)) if t % 2 else None
        golds = [("gold_a", list(range(k)))]
        if free_pair is not None:
            order = list(range(k))
            order[free_pair], order[free_pair + 1] = order[free_pair + 1], order[free_pair]
            golds.append(("gold_b", order))
        for g, (name, order) in enumerate(golds):
            sp = [1.0] * k if g == 0 else _speeds(rng, k, spread=0.06)
            jobs.append(
                AssemblyJob(
                    task,
                    "gold",
                    name,
                    Performance(tuple((s, sp[s]) for s in order)),
                    random_actor(rng),
                    random_camera(rng, duration, moved=g > 0),
                    f"{watch_dir}/{task.task_id}/gold/{name}.mp4",
                    int(rng.integers(1 << 30)),
                    24,
                    (320, 240),
                    "libx264",
                )
            )
        for i, (name, performance) in enumerate(trainee_performances(k, rng, free_pair)):
            suffix, codec, fps, size = TRAINEE_FORMATS[i % len(TRAINEE_FORMATS)]
            jobs.append(
                AssemblyJob(
                    task,
                    "trainee",
                    name,
                    performance,
                    random_actor(rng),
                    random_camera(rng, duration, moved=True),
                    f"{watch_dir}/{task.task_id}/trainee/{name}{suffix}",
                    int(rng.integers(1 << 30)),
                    fps,
                    size,
                    codec,
                )
            )
    return jobs


def _render(job: AssemblyJob) -> tuple[str, dict]:
    truth = render_assembly(
        job.task,
        job.performance,
        job.actor,
        job.camera,
        Path(job.path),
        job.seed,
        job.fps,
        job.size,
        job.codec,
    )
    return job.path, truth


def write_assembly_set(jobs: Sequence[AssemblyJob], workers: int = 2) -> dict:
    """Render every job (in parallel processes); the truth keyed by path."""
    if workers <= 1:
        return dict(map(_render, jobs))
    with ProcessPoolExecutor(workers) as pool:
        return dict(pool.map(_render, jobs))
