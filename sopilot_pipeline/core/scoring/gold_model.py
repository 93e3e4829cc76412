"""Several golds of one task are a model of the procedure, not a choice between videos.

Two golds that do two neighbouring steps in opposite orders say that either order is
correct; two golds that take different times over a step say how long it may take. For
each gold this module works out, from every other gold of the task, which of its
adjacent step pairs some gold performs the other way round and the longest any gold
takes over each of its steps. Steps correspond by authored name when both golds name
all their steps alike, and otherwise by explaining one gold against the other exactly
as a trainee is explained (an edited step sequence), so the correspondence tolerates
the differences that make the golds worth having.

The golds also say what kind of procedure it is. Done from a rest pose (the golds open
in a pose they keep returning to), its steps tend to look alike and differ in where the
hand goes: ``task_feature_scale`` then doubles the weight of the embedder's
where-the-hand-goes features. On the tuning seed of the assembly harness doubling them
raised missing-step F1 from 0.91 to 0.96 and swapped-step F1 from 0.92 to 1.00;
doubling them everywhere cost the demo harness (whose steps differ in colour) a third
of its extra-step F1, hence only for rest-pose tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.scoring.explain import align_to_gold
from sopilot_pipeline.core.scoring.results import GoldVariation, ScoringConfig
from sopilot_pipeline.core.segment.steps import (
    Step,
    default_step_name,
    performed_from_rest,
    rest_pose,
)

GoldSteps = tuple[ClipSeries, tuple[Step, ...]]
REST_POSE_WHERE_WEIGHT = 2.0


def is_rest_pose_task(golds: Mapping[str, ClipSeries]) -> bool:
    """Every gold is performed from a rest pose, as ``auto`` step detection reads it."""
    return bool(golds) and all(
        performed_from_rest(g.vectors, g.start_sec, g.end_sec) for g in golds.values()
    )


def golds_rest_pose(golds: Mapping[str, GoldSteps]) -> tuple[float, ...]:
    """The golds' rest pose in their (adapted) features: the unit mean of each gold's
    (``segment.steps.rest_pose``); empty when none has one."""
    poses = [rest_pose(g.vectors, g.start_sec, g.end_sec) for g, _ in golds.values()]
    poses = [p for p in poses if p is not None]
    if not poses:
        return ()
    mean = np.mean(poses, axis=0)
    return tuple(float(x) for x in mean / max(float(np.linalg.norm(mean)), 1e-8))


def task_feature_scale(rest_pose: bool, where: np.ndarray | None) -> np.ndarray | None:
    """Per-dimension multiplier of the adapted features of one task (None: none)."""
    if where is None or not rest_pose:
        return None
    return np.where(where, REST_POSE_WHERE_WEIGHT, 1.0).astype(np.float32)


def _authored(steps: tuple[Step, ...]) -> bool:
    return all(s.label != default_step_name(s.index) for s in steps)


@dataclass(frozen=True)
class StepCorrespondence:
    """How another gold performs this gold's steps."""

    step_of: dict[int, int]  # this gold's step -> the other gold's step that performs it
    seconds: dict[int, float]  # this gold's step -> seconds the other gold takes over it


def correspond(
    gold: GoldSteps, other: GoldSteps, config: ScoringConfig | None = None
) -> StepCorrespondence:
    """Which of the other gold's steps performs each step of ``gold``, and for how long.

    The time is the shorter of the other gold's detected step and its stretch explained
    as this step (measured as a trainee's is). Each overstates in its own way: where
    the other gold's detection merged alike steps (4444's gold_b: five steps found of
    eight) its 6-s step would let every step it covers take 6 s; where the alignment
    spills into a neighbour (a pair the other gold does in the other order) the stretch
    is a clip or two long. On the four tuning seeds over-time recall went from 27 to 28
    of 32 at ``over_time_ratio`` 1.4, no false over time.
    """
    (series, steps), (other_series, other_steps) = gold, other
    if _authored(steps) and _authored(other_steps):
        by_name: dict[str, list[int]] = {}
        for s in other_steps:
            by_name.setdefault(s.label, []).append(s.index)
        mapping = {}
        for s in steps:
            if by_name.get(s.label):
                mapping[s.index] = by_name[s.label].pop(0)
        return StepCorrespondence(
            mapping, {a: other_steps[b].duration_sec for a, b in mapping.items()}
        )
    explained = align_to_gold(series, steps, other_series, config)
    mapping, seconds = {}, {}
    for p in explained.sequence.placements:
        overlap = [
            (min(p.last_clip + 1, o.end_clip) - max(p.first_clip, o.start_clip), o.index)
            for o in other_steps
        ]
        best = max(overlap)
        if best[0] > 0:
            mapping[p.step] = best[1]
            t0, t1 = other_series.span_times(p.first_clip, p.last_clip)
            seconds[p.step] = min(t1 - t0, other_steps[best[1]].duration_sec)
    return StepCorrespondence(mapping, seconds)


def step_correspondence(
    gold: GoldSteps, other: GoldSteps, config: ScoringConfig | None = None
) -> dict[int, int]:
    """gold step -> the other gold's step that performs it (steps with none are left out)."""
    return correspond(gold, other, config).step_of


def gold_variations(
    golds: Mapping[str, GoldSteps], config: ScoringConfig | None = None, rest_pose: bool = False
) -> dict[str, GoldVariation]:
    """For every gold: the adjacent step pairs other golds do in reverse, and per step
    the longest time any gold takes over it (one gold: no variation); ``rest_pose``
    says the task is performed from a rest pose (``is_rest_pose_task``)."""
    out: dict[str, GoldVariation] = {}
    pose = golds_rest_pose(golds) if rest_pose else ()
    for key, (series, steps) in golds.items():
        free: set[tuple[int, int]] = set()
        slowest = np.array([s.duration_sec for s in steps], dtype=np.float64)
        counterparts = []
        for other_key, other in golds.items():
            if other_key == key:
                continue
            found = correspond((series, steps), other, config)
            mapping = found.step_of
            counterparts.append((other_key, tuple(mapping.get(s.index, -1) for s in steps)))
            for a in range(len(steps) - 1):
                if a in mapping and a + 1 in mapping and mapping[a + 1] < mapping[a]:
                    free.add((a, a + 1))
            for a, seconds in found.seconds.items():
                slowest[a] = max(slowest[a], seconds)
        out[key] = GoldVariation(
            free_pairs=frozenset(free),
            slowest_duration_sec=tuple(float(d) for d in slowest),
            rest_pose=rest_pose,
            rest_pose_vector=pose,
            counterparts=tuple(counterparts),
        )
    return out
