"""Deviation rules on clip series made to order: each rule's situation, nothing else."""

from __future__ import annotations

import numpy as np

from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.scoring.score import evaluate_trainee
from sopilot_pipeline.core.segment.steps import Step

REST = 4  # prototype index of the rest pose


def _series(labels: list[int], seed: int) -> ClipSeries:
    """Clips every 0.5 s, each its label's prototype plus a little noise."""
    prototypes = np.random.default_rng(0).normal(size=(REST + 1, 32))
    rng = np.random.default_rng(seed)
    rows = prototypes[labels] + rng.normal(0, 0.05, (len(labels), 32))
    t = np.arange(len(labels)) * 0.5
    return ClipSeries(rows.astype(np.float32), t, t + 1.0)


def _gold_steps(clips_per_step: int, k: int) -> tuple[Step, ...]:
    return tuple(
        Step(
            i,
            i * clips_per_step,
            (i + 1) * clips_per_step,
            i * 0.5 * clips_per_step,
            (i + 1) * 0.5 * clips_per_step,
        )
        for i in range(k)
    )


def test_a_trainee_who_stops_early_is_not_over_time_on_the_last_step_done() -> None:
    """Each step is three clips of motion and one at rest. The trainee does the first
    three of four steps at the gold's pace and stops: the video runs on at rest for
    2.5 s. That rest is not the third step's time."""
    step = lambda s: [s, s, s, REST]  # noqa: E731
    gold = _series(sum((step(s) for s in range(4)), []), seed=1)
    trainee = _series(sum((step(s) for s in range(3)), []) + [REST] * 5, seed=2)
    result = evaluate_trainee(gold, _gold_steps(4, 4), trainee)
    kinds = [(d.type, d.gold_step) for d in result.deviations]
    assert ("missing_step", 3) in kinds
    assert not [k for k in kinds if k[0] == "over_time"], kinds
    third = result.step_matches[2]
    assert third.duration_sec <= 2.5


def test_a_slow_step_before_an_early_stop_is_still_over_time() -> None:
    """The same early stop after a third step done at half the gold's pace."""
    step = lambda s: [s, s, s, REST]  # noqa: E731
    gold = _series(sum((step(s) for s in range(4)), []), seed=1)
    slow_third = [2] * 7 + [REST]
    trainee = _series(step(0) + step(1) + slow_third + [REST] * 5, seed=2)
    result = evaluate_trainee(gold, _gold_steps(4, 4), trainee)
    kinds = [(d.type, d.gold_step) for d in result.deviations]
    assert ("missing_step", 3) in kinds
    assert ("over_time", 2) in kinds
