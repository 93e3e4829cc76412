"""Deviation detection and the 0-100 score.

Each gold step is looked for twice: where the global DTW path puts it (in place),
and anywhere in the trainee video (subsequence search). That separates

* missing steps: found nowhere,
* swapped steps: two adjacent steps both found, in reverse order,
* over-time: an in-place step whose aligned trainee span is much longer than gold's,
* extra steps: trainee stretches that resemble no gold clip at all,
* temporal warp: a path that strays far from the diagonal.

The score is 100 minus weighted penalties, each kept with its explanation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sopilot_pipeline.core.dtw import Alignment, cosine_cost, dtw_from_cost, subsequence_match
from sopilot_pipeline.core.steps import Step

DEVIATION_TYPES = ("missing_step", "swapped_step", "over_time", "extra_step", "temporal_warp")


@dataclass(frozen=True)
class ScoringConfig:
    # costs are judged relative to how different the gold's own steps are from each other
    step_match_max_cost: float = 0.5
    over_time_ratio: float = 1.3
    over_time_min_sec: float = 1.0
    extra_min_cost: float = 1.0
    extra_min_clips: int = 4
    warp_threshold: float = 0.2
    miss_penalty: float = 15.0
    swap_penalty: float = 10.0
    over_time_penalty: float = 6.0
    extra_penalty: float = 5.0
    warp_penalty: float = 10.0
    cost_penalty: float = 20.0
    cost_free: float = 0.3


@dataclass(frozen=True)
class Deviation:
    type: str
    gold_step: int | None
    gold_start_sec: float | None
    gold_end_sec: float | None
    trainee_start_sec: float | None
    trainee_end_sec: float | None
    severity: float
    detail: str


@dataclass(frozen=True)
class StepMatch:
    step: Step
    found: bool
    in_place: bool
    in_place_cost: float
    best_cost: float
    trainee_start_sec: float
    trainee_end_sec: float


@dataclass(frozen=True)
class Penalty:
    name: str
    quantity: float
    points: float
    explanation: str


@dataclass(frozen=True)
class ScoreResult:
    score: float
    deviations: tuple[Deviation, ...]
    penalties: tuple[Penalty, ...]
    step_matches: tuple[StepMatch, ...]
    alignment: Alignment  # costs in units of the gold's step contrast
    warp: float
    contrast: float
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipSeries:
    """Clip embeddings of one video with their times."""

    vectors: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray

    def span_times(self, first: int, last: int) -> tuple[float, float]:
        """Seconds covered from clip ``first`` up to where clip ``last + 1`` starts."""
        end = self.start_sec[last + 1] if last + 1 < len(self.start_sec) else self.end_sec[last]
        return float(self.start_sec[first]), float(end)


def path_warp(path: np.ndarray, m: int, n: int) -> float:
    """Mean distance of the path from the diagonal, in units of the normalised time axes."""
    if m < 2 or n < 2:
        return 0.0
    return float(np.mean(np.abs(path[:, 0] / (m - 1) - path[:, 1] / (n - 1))))


def step_contrast(gold_vectors: np.ndarray, steps: tuple[Step, ...]) -> float:
    """Typical cosine cost between clips of *different* gold steps: the unit in which a
    trainee's match costs are judged, so thresholds hold for any embedder or adapter."""
    self_cost = cosine_cost(gold_vectors, gold_vectors)
    labels = np.zeros(len(gold_vectors), dtype=np.int64)
    for s in steps:
        labels[s.start_clip : s.end_clip] = s.index
    idx = np.arange(len(gold_vectors))
    different = labels[:, None] != labels[None, :]
    if not different.any():  # one step: compare clips far apart in time
        different = np.abs(idx[:, None] - idx[None, :]) >= 4
    values = self_cost[different] if different.any() else self_cost.ravel()
    return float(max(np.median(values), 1e-3))


def _match_steps(
    cost: np.ndarray,
    alignment: Alignment,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig,
) -> list[tuple[StepMatch, int]]:
    path = alignment.path
    out: list[tuple[StepMatch, int]] = []
    for step in steps:
        cells = path[(path[:, 0] >= step.start_clip) & (path[:, 0] < step.end_clip)]
        in_place_cost = float(cost[cells[:, 0], cells[:, 1]].mean())
        local = subsequence_match(cost[step.start_clip : step.end_clip])
        found = min(local.mean_cost, in_place_cost) <= config.step_match_max_cost
        in_place = in_place_cost <= config.step_match_max_cost
        if in_place:
            t0, t1 = trainee.span_times(int(cells[:, 1].min()), int(cells[:, 1].max()))
            anchor = int(cells[:, 1].min())
        else:
            t0, t1 = trainee.span_times(local.start, local.end)
            anchor = local.start
        out.append(
            (StepMatch(step, found, in_place, in_place_cost, local.mean_cost, t0, t1), anchor)
        )
    return out


def evaluate_trainee(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
    alignment_path: np.ndarray | None = None,
) -> ScoreResult:
    """Score a trainee video against one gold video whose steps are known.

    Both embeddings must already be in the same (adapted) feature space. A DTW
    path computed earlier (see ``align_to_gold``) is reused when given.
    """
    config = config or ScoringConfig()
    if len(gold.vectors) == 0 or len(trainee.vectors) == 0:
        raise ValueError("cannot score a video with no clips")
    contrast = step_contrast(gold.vectors, steps)
    cost = cosine_cost(gold.vectors, trainee.vectors) / contrast
    if alignment_path is None:
        alignment = dtw_from_cost(cost)
    else:
        total = float(cost[alignment_path[:, 0], alignment_path[:, 1]].sum())
        alignment = Alignment(alignment_path, total, total / len(alignment_path))
    matches = _match_steps(cost, alignment, steps, trainee, config)
    deviations: list[Deviation] = []

    def gold_times(s: Step) -> tuple[float, float]:
        return s.start_sec, s.end_sec

    for match, _ in matches:
        if not match.found:
            deviations.append(
                Deviation(
                    "missing_step",
                    match.step.index,
                    *gold_times(match.step),
                    None,
                    None,
                    severity=1.0,
                    detail=f"step {match.step.index + 1} not found in the trainee video "
                    f"(best match cost {match.best_cost:.2f} > {config.step_match_max_cost:.2f})",
                )
            )

    swapped: set[int] = set()
    k = 0
    while k < len(matches) - 1:
        (a, a_anchor), (b, b_anchor) = matches[k], matches[k + 1]
        if a.found and b.found and b_anchor < a_anchor and not (a.in_place and b.in_place):
            swapped.update((k, k + 1))
            deviations.append(
                Deviation(
                    "swapped_step",
                    a.step.index,
                    a.step.start_sec,
                    b.step.end_sec,
                    min(a.trainee_start_sec, b.trainee_start_sec),
                    max(a.trainee_end_sec, b.trainee_end_sec),
                    severity=1.0,
                    detail=f"steps {a.step.index + 1} and {b.step.index + 1} performed in "
                    f"reverse order (trainee {b.trainee_start_sec:.1f}s before "
                    f"{a.trainee_start_sec:.1f}s)",
                )
            )
            k += 2
            continue
        k += 1

    over_time_severity = 0.0
    for idx, (match, _) in enumerate(matches):
        if not (match.found and match.in_place) or idx in swapped:
            continue
        gold_dur = max(match.step.duration_sec, 1e-6)
        trainee_dur = match.trainee_end_sec - match.trainee_start_sec
        ratio = trainee_dur / gold_dur
        if ratio > config.over_time_ratio and trainee_dur - gold_dur >= config.over_time_min_sec:
            severity = float(min(1.0, ratio - 1.0))
            over_time_severity += severity
            deviations.append(
                Deviation(
                    "over_time",
                    match.step.index,
                    *gold_times(match.step),
                    match.trainee_start_sec,
                    match.trainee_end_sec,
                    severity,
                    f"step {match.step.index + 1} took {trainee_dur:.1f}s vs gold "
                    f"{gold_dur:.1f}s ({ratio:.2f}x, limit {config.over_time_ratio:.2f}x)",
                )
            )

    deviations.extend(_extra_steps(cost, alignment, steps, trainee, config))

    warp = path_warp(alignment.path, *cost.shape)
    if warp > config.warp_threshold:
        deviations.append(
            Deviation(
                "temporal_warp",
                None,
                None,
                None,
                None,
                None,
                severity=float(min(1.0, warp / 0.5)),
                detail=f"alignment strays {warp:.2f} (of the video length) from the "
                f"diagonal on average (limit {config.warp_threshold:.2f})",
            )
        )

    counts = {t: sum(d.type == t for d in deviations) for t in DEVIATION_TYPES}
    penalties = _penalties(counts, over_time_severity, warp, alignment.mean_cost, config)
    score = float(np.clip(100.0 - sum(p.points for p in penalties), 0.0, 100.0))
    return ScoreResult(
        score=round(score, 2),
        deviations=tuple(sorted(deviations, key=_deviation_order)),
        penalties=penalties,
        step_matches=tuple(m for m, _ in matches),
        alignment=alignment,
        warp=warp,
        contrast=contrast,
        counts=counts,
    )


def align_to_gold(gold: ClipSeries, steps: tuple[Step, ...], trainee: ClipSeries) -> Alignment:
    """DTW path with costs in units of the gold's step contrast (comparable across golds)."""
    contrast = step_contrast(gold.vectors, steps)
    return dtw_from_cost(cosine_cost(gold.vectors, trainee.vectors) / contrast)


def _deviation_order(d: Deviation) -> tuple[int, int]:
    return (d.gold_step if d.gold_step is not None else 10**9, DEVIATION_TYPES.index(d.type))


def _extra_steps(
    cost: np.ndarray,
    alignment: Alignment,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig,
) -> list[Deviation]:
    """Runs of trainee clips that resemble no gold clip at all."""
    unlike = cost.min(axis=0) > config.extra_min_cost
    gold_of_trainee = np.zeros(cost.shape[1], dtype=np.int64)
    gold_of_trainee[alignment.path[:, 1]] = alignment.path[:, 0]
    step_of_gold = np.zeros(cost.shape[0], dtype=np.int64)
    for s in steps:
        step_of_gold[s.start_clip : s.end_clip] = s.index
    out = []
    j = 0
    n = len(unlike)
    while j < n:
        if not unlike[j]:
            j += 1
            continue
        start = j
        while j < n and unlike[j]:
            j += 1
        if j - start >= config.extra_min_clips:
            t0, t1 = trainee.span_times(start, j - 1)
            near = int(step_of_gold[gold_of_trainee[start]])
            out.append(
                Deviation(
                    "extra_step",
                    near,
                    None,
                    None,
                    t0,
                    t1,
                    severity=float(min(1.0, (t1 - t0) / 10.0)),
                    detail=f"{t1 - t0:.1f}s of activity unlike any gold step "
                    f"(near step {near + 1})",
                )
            )
    return out


def _penalties(
    counts: dict[str, int],
    over_time_severity: float,
    warp: float,
    mean_cost: float,
    config: ScoringConfig,
) -> tuple[Penalty, ...]:
    excess_cost = max(0.0, mean_cost - config.cost_free)
    warp_excess = warp if warp > config.warp_threshold else 0.0
    return (
        Penalty(
            "missing steps",
            counts["missing_step"],
            config.miss_penalty * counts["missing_step"],
            f"{config.miss_penalty:g} points per gold step not performed",
        ),
        Penalty(
            "swapped steps",
            counts["swapped_step"],
            config.swap_penalty * counts["swapped_step"],
            f"{config.swap_penalty:g} points per adjacent pair done in reverse order",
        ),
        Penalty(
            "over time",
            round(over_time_severity, 3),
            config.over_time_penalty * over_time_severity,
            f"{config.over_time_penalty:g} points x (duration ratio - 1, at most 1) per slow step",
        ),
        Penalty(
            "extra steps",
            counts["extra_step"],
            config.extra_penalty * counts["extra_step"],
            f"{config.extra_penalty:g} points per stretch unlike any gold step",
        ),
        Penalty(
            "temporal warp",
            round(warp_excess, 3),
            config.warp_penalty * warp_excess,
            f"{config.warp_penalty:g} points x mean distance from the diagonal "
            f"when above {config.warp_threshold:g}",
        ),
        Penalty(
            "alignment cost",
            round(excess_cost, 3),
            config.cost_penalty * excess_cost,
            f"{config.cost_penalty:g} points x mean DTW cost above {config.cost_free:g}",
        ),
    )
