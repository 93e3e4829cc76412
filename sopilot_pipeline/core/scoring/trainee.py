"""Deviation detection and the 0-100 score.

The trainee is explained as an edited gold step sequence (``step_alignment``): delete
edits are missing steps (an early stop deletes the tail), swap edits are adjacent
steps done in reverse order, clips set aside as unrelated activity are extra steps.
On the final alignment each performed step has a trainee span, so over-time is the
aligned duration against the gold step's, and temporal warp is how far the path
strays from the diagonal.

Costs are in units of the gold's step contrast (the typical cost between clips of
different gold steps), so every threshold and price holds for any embedder or
adapter. The score is 100 minus weighted penalties, each kept with its explanation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sopilot_pipeline.core.align.dtw import cosine_cost, dtw_from_cost
from sopilot_pipeline.core.base.blockwise import exact_median, row_blocks
from sopilot_pipeline.core.scoring.step_alignment import (
    Edit,
    ExtraRun,
    SearchPrices,
    SequenceAlignment,
    align_step_sequence,
    explain_trainees,
)
from sopilot_pipeline.core.segment.steps import (
    Step,
    clips_per_second,
    default_step_name,
    rest_returns,
)

DEVIATION_TYPES = ("missing_step", "swapped_step", "over_time", "extra_step", "temporal_warp")


@dataclass(frozen=True)
class ScoringConfig:
    """Detection thresholds (in step-contrast units unless named otherwise) and the
    points each deviation costs."""

    extra_cost: float = 0.6  # per clip: unlike every gold step beyond this = unrelated
    extra_min_sec: float = 1.5
    # a step's alignment held on one moment that long and this much costlier than the
    # rest of the step is an extra action done part-way through it (``_dwell_extras``)
    dwell_margin: float = 0.05
    delete_price: float = 0.3  # per gold clip: saving needed to call a step missing
    swap_price: float = 0.1  # per gold clip of the pair: saving needed to call a swap
    found_cost: float = 0.6  # a step matched this well somewhere is performed, not missing
    # durations are measured to about one clip stride (0.5 s) at each end, hence the
    # margins: more than two strides over, and 1.4 times the slowest gold
    over_time_ratio: float = 1.4
    over_time_min_sec: float = 1.0
    warp_threshold: float = 0.2
    miss_penalty: float = 15.0
    swap_penalty: float = 10.0
    over_time_penalty: float = 6.0
    extra_penalty: float = 5.0
    warp_penalty: float = 10.0
    cost_penalty: float = 20.0
    cost_free: float = 0.3


@dataclass(frozen=True)
class GoldVariation:
    """What the task's other golds allow one gold's steps (``core.gold_model``)."""

    # adjacent step pairs (a, a + 1) that some gold performs b-then-a: not a swap
    free_pairs: frozenset[tuple[int, int]] = frozenset()
    # per step, the longest any gold takes over it; empty: this gold's own durations
    slowest_duration_sec: tuple[float, ...] = ()
    # the task is performed from a rest pose: a slow-looking step with a return to rest
    # inside is the step and an extra action (``_split_at_rest``)
    rest_pose: bool = False


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
    step_name: str | None = None  # name of ``gold_step`` (authored, or "step N")


@dataclass(frozen=True)
class StepMatch:
    """One gold step in the trainee video: where, how well, and whether in order."""

    step: Step
    found: bool
    in_order: bool
    mean_cost: float
    trainee_start_sec: float
    trainee_end_sec: float
    # seconds inside the span spent on an extra action (``_dwell_extras``)
    set_aside_sec: float = 0.0

    @property
    def duration_sec(self) -> float:
        """Time the trainee spent on the step itself."""
        return self.trainee_end_sec - self.trainee_start_sec - self.set_aside_sec

    @property
    def duration_ratio(self) -> float:
        return self.duration_sec / max(self.step.duration_sec, 1e-6)


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
    alignment: SequenceAlignment  # costs in units of the gold's step contrast
    edits: tuple[Edit, ...]
    mean_cost: float  # per aligned cell, over the trainee's step clips
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
    if m < 2 or n < 2 or len(path) == 0:
        return 0.0
    return float(np.mean(np.abs(path[:, 0] / (m - 1) - path[:, 1] / (n - 1))))


CONTRAST_BLOCK_ROWS = 1024
"""Gold clips compared with all others at a time in ``step_contrast``: a video of up to
this many clips is one block; a 60-minute gold (7,200 clips) is eight of 29 MB instead
of one 207 MB matrix and its masks and copies."""


def step_contrast(gold_vectors: np.ndarray, steps: tuple[Step, ...]) -> float:
    """Typical cosine cost between clips of *different* gold steps: the unit in which a
    trainee's match costs are judged, so thresholds hold for any embedder or adapter.

    The median is exact but taken in row blocks (``exact_median``), so memory does not
    grow with the square of the video's length."""
    n = len(gold_vectors)
    labels = np.zeros(n, dtype=np.int64)
    for s in steps:
        labels[s.start_clip : s.end_clip] = s.index
    idx = np.arange(n)
    by_step = len(np.unique(labels)) > 1
    by_time = not by_step and n > 4  # one step: compare clips far apart in time

    parts = row_blocks(n, CONTRAST_BLOCK_ROWS)

    def blocks() -> Iterator[np.ndarray]:
        for rows in parts:
            cost = cosine_cost(gold_vectors[rows], gold_vectors)
            if by_step:
                yield cost[labels[rows, None] != labels[None, :]]
            elif by_time:
                yield cost[np.abs(idx[rows, None] - idx[None, :]) >= 4]
            else:
                yield cost.ravel()
            del cost  # before the next block is made

    median = np.median(next(blocks())) if len(parts) == 1 else exact_median(blocks)
    return float(max(median, 1e-3))


@dataclass(frozen=True)
class TraineeAlignment:
    """The trainee explained against one gold: cost matrix in contrast units, the
    edited step sequence and the edits."""

    cost: np.ndarray
    contrast: float
    sequence: SequenceAlignment
    edits: tuple[Edit, ...]

    @property
    def mean_cost(self) -> float:
        path = self.sequence.path
        if len(path) == 0:
            return float("inf")
        return float(self.cost[path[:, 0], path[:, 1]].mean())


def _cost_in_contrast_units(
    gold: ClipSeries, steps: tuple[Step, ...], trainee: ClipSeries
) -> tuple[np.ndarray, float]:
    if len(gold.vectors) == 0 or len(trainee.vectors) == 0:
        raise ValueError("cannot align a video with no clips")
    if not steps:
        raise ValueError("the gold video has no steps")
    contrast = step_contrast(gold.vectors, steps)
    cost = cosine_cost(gold.vectors, trainee.vectors)
    cost /= np.float32(contrast)  # in place: a 60-minute pair's matrix is 0.2 GB
    return cost, contrast


def replay_alignment(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    order: tuple[int, ...],
    edits: tuple[Edit, ...],
    config: ScoringConfig | None = None,
) -> TraineeAlignment:
    """An alignment saved as its step order and edits, rebuilt with one DP.

    The greedy edit search is the expensive part of ``align_to_gold``; its result is
    fully determined by the final order, so a later step need not search again.
    """
    config = config or ScoringConfig()
    cost, contrast = _cost_in_contrast_units(gold, steps, trainee)
    sequence = align_step_sequence(cost, steps, tuple(order), config.extra_cost)
    return TraineeAlignment(cost, contrast, sequence, tuple(edits))


def align_to_gold(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
) -> TraineeAlignment:
    """Explain the trainee against one gold (both in the same adapted feature space)."""
    return align_to_golds({"gold": (gold, steps)}, trainee, config)["gold"]


def align_to_golds(
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
) -> dict[str, TraineeAlignment]:
    """Explain the trainee against every gold of its task (see ``align_trainees``)."""
    return align_trainees([(golds, trainee)], config)[0]


def align_trainees(
    jobs: Sequence[tuple[Mapping[str, tuple[ClipSeries, tuple[Step, ...]]], ClipSeries]],
    config: ScoringConfig | None = None,
) -> list[dict[str, TraineeAlignment]]:
    """Explain each trainee against each of its golds, all the searches in lockstep: on
    a GPU each round of every trainee and gold is one kernel launch; on the CPU each
    pair is searched as alone. All their cost matrices are held at once."""
    config = config or ScoringConfig()
    prices = SearchPrices(
        config.extra_cost, config.delete_price, config.swap_price, config.found_cost
    )
    costs = [
        {g: _cost_in_contrast_units(series, steps, trainee) for g, (series, steps) in golds.items()}
        for golds, trainee in jobs
    ]
    pairs = [
        (cost[g][0], golds[g][1])
        for (golds, _), cost in zip(jobs, costs, strict=True)
        for g in golds
    ]
    explained = iter(explain_trainees(pairs, prices))
    out = []
    for (golds, _), cost in zip(jobs, costs, strict=True):
        out.append({})
        for g in golds:
            sequence, edits = next(explained)
            out[-1][g] = TraineeAlignment(cost[g][0], cost[g][1], sequence, edits)
    return out


def evaluate_trainee(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
    alignment: TraineeAlignment | None = None,
    variation: GoldVariation | None = None,
) -> ScoreResult:
    """Score a trainee video against one gold video whose steps are known.

    Both embeddings must already be in the same (adapted) feature space; an alignment
    computed earlier with the same inputs (see ``align_to_gold``) is reused when given.
    ``variation`` carries what the task's other golds allow: a pair done in an order
    some gold shows is no swap, and a step is slow only against the slowest gold.
    """
    config = config or ScoringConfig()
    variation = variation or GoldVariation()
    alignment = alignment or align_to_gold(gold, steps, trainee, config)
    seq = alignment.sequence
    deviations: list[Deviation] = []
    swapped: set[int] = set()
    edits = tuple(
        e
        for e in alignment.edits
        if not (e.kind == "swap" and tuple(sorted(e.steps)) in variation.free_pairs)
    )
    for edit in edits:
        if edit.kind == "delete":
            s = steps[edit.steps[0]]
            deviations.append(
                Deviation(
                    "missing_step",
                    s.index,
                    s.start_sec,
                    s.end_sec,
                    None,
                    None,
                    severity=1.0,
                    detail=f"{_named(s)} not performed (leaving it out explains the "
                    f"trainee video better by {edit.saving:.1f} cost units)",
                )
            )
        else:
            a, b = (steps[i] for i in sorted(edit.steps))
            swapped.update((a.index, b.index))
            pair = [p for p in seq.placements if p.step in (a.index, b.index)]
            t0, t1 = trainee.span_times(
                min(p.first_clip for p in pair), max(p.last_clip for p in pair)
            )
            deviations.append(
                Deviation(
                    "swapped_step",
                    a.index,
                    a.start_sec,
                    b.end_sec,
                    t0,
                    t1,
                    severity=1.0,
                    detail=f"{_named(a)} and {_named(b)} performed in reverse "
                    f"order ({_named(b)} at {t0:.1f}s came first)",
                )
            )

    spans, split_extras = _split_at_rest(alignment, steps, trainee, variation, config)
    times = _step_times(seq, spans, trainee, config)
    dwells = _dwell_extras(alignment, steps, trainee, variation, config, times)
    matches: dict[int, StepMatch] = {}
    for p in seq.placements:
        t0, t1 = times[p.step]
        aside = 0.0
        if (dwell := dwells.get(p.step)) is not None:
            d0, d1 = trainee.span_times(dwell.first_clip, dwell.last_clip)
            aside = d1 - d0
        matches[p.step] = StepMatch(
            steps[p.step], True, p.step not in swapped, p.mean_cost, t0, t1, aside
        )
    step_matches = tuple(
        matches.get(s.index, StepMatch(s, False, False, float("nan"), float("nan"), float("nan")))
        for s in steps
    )

    over_time_severity = 0.0
    for m in step_matches:
        if not m.found:
            continue
        gold_dur = _reference_duration(m.step, variation)
        trainee_dur = m.duration_sec
        ratio = trainee_dur / gold_dur
        if _over_time(trainee_dur, gold_dur, config):
            severity = float(min(1.0, ratio - 1.0))
            over_time_severity += severity * m.step.weight
            deviations.append(
                Deviation(
                    "over_time",
                    m.step.index,
                    m.step.start_sec,
                    m.step.end_sec,
                    m.trainee_start_sec,
                    m.trainee_end_sec,
                    severity,
                    f"{_named(m.step)} took {trainee_dur:.1f}s vs gold "
                    f"{gold_dur:.1f}s ({ratio:.2f}x, limit {config.over_time_ratio:.2f}x"
                    f"{', the slowest gold' if gold_dur > m.step.duration_sec + 1e-6 else ''})",
                )
            )

    for run in (*seq.extras, *split_extras, *dwells.values()):
        t0, t1 = trainee.span_times(run.first_clip, run.last_clip)
        if t1 - t0 < config.extra_min_sec:
            continue
        after = run.after if run.after >= 0 else None
        where = f"after {_named(steps[after])}" if after is not None else "before the first step"
        deviations.append(
            Deviation(
                "extra_step",
                after,
                None,
                None,
                t0,
                t1,
                severity=float(min(1.0, (t1 - t0) / 10.0)),
                detail=f"{t1 - t0:.1f}s of activity unlike any gold step, {where}",
            )
        )

    warp = _sequence_warp(seq, steps, len(trainee.vectors))
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

    deviations = [
        replace(d, step_name=steps[d.gold_step].label) if d.gold_step is not None else d
        for d in deviations
    ]
    counts = {t: sum(d.type == t for d in deviations) for t in DEVIATION_TYPES}
    weighted = {
        "missing_step": sum(steps[e.steps[0]].weight for e in edits if e.kind == "delete"),
        "swapped_step": sum(
            max(steps[i].weight for i in e.steps) for e in edits if e.kind == "swap"
        ),
    }
    mean_cost = alignment.mean_cost
    penalties = _penalties(counts, weighted, over_time_severity, warp, mean_cost, config)
    score = float(np.clip(100.0 - sum(p.points for p in penalties), 0.0, 100.0))
    return ScoreResult(
        score=round(score, 2),
        deviations=tuple(sorted(deviations, key=_deviation_order)),
        penalties=penalties,
        step_matches=step_matches,
        alignment=seq,
        edits=alignment.edits,  # all the search kept, free-order swaps included
        mean_cost=mean_cost,
        warp=warp,
        contrast=alignment.contrast,
        counts=counts,
    )


def _reference_duration(step: Step, variation: GoldVariation) -> float:
    """How long the step may take: the slowest gold's time over it."""
    slowest = variation.slowest_duration_sec
    own = max(step.duration_sec, 1e-6)
    return max(own, slowest[step.index]) if step.index < len(slowest) else own


def _over_time(trainee_sec: float, gold_sec: float, config: ScoringConfig) -> bool:
    return (
        trainee_sec / gold_sec > config.over_time_ratio
        and trainee_sec - gold_sec >= config.over_time_min_sec
    )


def _step_times(
    seq: SequenceAlignment,
    spans: dict[int, tuple[int, int]],
    trainee: ClipSeries,
    config: ScoringConfig,
) -> dict[int, tuple[float, float]]:
    """Trainee seconds of every performed step, hesitations included.

    A stretch set aside as unrelated but too short to be an extra action is part of
    doing the steps around it (a slow reach, a fumbled part): each neighbour takes the
    half next to it, the first and last step all of what lies before or after them.
    Without it a slow step that partly looks unlike the gold loses its slow seconds.
    """
    times = {s: trainee.span_times(*span) for s, span in spans.items()}
    order = [p.step for p in seq.placements]
    for run in seq.extras:
        t0, t1 = trainee.span_times(run.first_clip, run.last_clip)
        if t1 - t0 >= config.extra_min_sec:
            continue
        following = order.index(run.after) + 1 if run.after >= 0 else 0
        before = order[following - 1] if following > 0 else None
        after = order[following] if following < len(order) else None
        split = t1 if after is None else t0 if before is None else (t0 + t1) / 2
        if before is not None:
            times[before] = (times[before][0], max(times[before][1], split))
        if after is not None:
            times[after] = (min(times[after][0], split), times[after][1])
    return times


def _dwell_extras(
    alignment: TraineeAlignment,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    variation: GoldVariation,
    config: ScoringConfig,
    times: dict[int, tuple[float, float]],
) -> dict[int, ExtraRun]:
    """Extra actions done in the middle of a step, per step.

    A slow step is slow throughout: its trainee clips spread over all of its gold
    clips. An unrelated action done part-way (wiping the bench before pressing the
    part) holds the alignment on one moment of the step for as long as it lasts, and
    matches that moment worse than the rest of the step matches the gold. Such a dwell,
    ``extra_min_sec`` longer than the step's pace elsewhere and ``dwell_margin`` costlier
    (in step-contrast units) than the rest of the step, is an extra action; its time is
    not the step's. Measured on the assembly tuning seeds: the two unrelated actions
    read as slow steps held one gold clip for 6-7 trainee clips, 0.11-0.15 costlier;
    slow steps held at most 4, never costlier.
    """
    seq = alignment.sequence
    path = seq.path
    stride = 1.0 / clips_per_second(trainee.start_sec)
    out: dict[int, ExtraRun] = {}
    for p in seq.placements:
        step = steps[p.step]
        t0, t1 = times[p.step]
        if step.end_clip - step.start_clip < 2:
            continue
        if not _over_time(t1 - t0, _reference_duration(step, variation), config):
            continue
        on_step = path[(path[:, 0] >= step.start_clip) & (path[:, 0] < step.end_clip)]
        held = np.bincount(on_step[:, 0] - step.start_clip)
        moment = int(np.argmax(held)) + step.start_clip
        dwell = on_step[on_step[:, 0] == moment, 1]
        rest = on_step[on_step[:, 0] != moment]
        pace = len(rest) / (step.end_clip - step.start_clip - 1)  # trainee clips per gold clip
        if (len(dwell) - pace) * stride < config.extra_min_sec:
            continue
        dwell_cost = float(alignment.cost[moment, dwell].mean())
        if dwell_cost < float(alignment.cost[rest[:, 0], rest[:, 1]].mean()) + config.dwell_margin:
            continue  # the same moment held longer (a pause, a slow part): over time
        # the first clip of the dwell is the step's own moment; the rest is the action
        out[p.step] = ExtraRun(p.step, int(dwell.min()) + 1, int(dwell.max()))
    return out


def _split_at_rest(
    alignment: TraineeAlignment,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    variation: GoldVariation,
    config: ScoringConfig,
) -> tuple[dict[int, tuple[int, int]], list[ExtraRun]]:
    """Trainee span of every performed step, and the extra actions found inside spans.

    A step that seems slow but whose span contains a return to the rest pose was two
    excursions from rest: the step, and something else done on the way (wiping the
    bench looks more like pressing a part than like nothing). The excursion that
    matches the gold step best is the step; the others are extra actions.
    """
    seq = alignment.sequence
    spans = {p.step: (p.first_clip, p.last_clip) for p in seq.placements}
    extras: list[ExtraRun] = []
    if not variation.rest_pose:
        return spans, extras
    returns: np.ndarray | None = None
    for i, p in enumerate(seq.placements):
        t0, t1 = trainee.span_times(p.first_clip, p.last_clip)
        if not _over_time(t1 - t0, _reference_duration(steps[p.step], variation), config):
            continue
        if returns is None:
            returns = rest_returns(trainee.vectors, trainee.start_sec, trainee.end_sec)
        edges = [p.first_clip]
        for r in (int(r) for r in returns if p.first_clip < r <= p.last_clip):
            # each piece a whole excursion, long enough to be an action of its own
            before_sec = trainee.start_sec[r] - trainee.start_sec[edges[-1]]
            if min(before_sec, t1 - trainee.start_sec[r]) >= config.extra_min_sec:
                edges.append(r)
        if len(edges) == 1:
            continue
        edges.append(p.last_clip + 1)
        pieces = list(zip(edges[:-1], [e - 1 for e in edges[1:]], strict=True))
        rows = slice(steps[p.step].start_clip, steps[p.step].end_clip)
        costs = [dtw_from_cost(alignment.cost[rows, a : b + 1]).mean_cost for a, b in pieces]
        keep = int(np.argmin(costs))
        spans[p.step] = pieces[keep]
        before = seq.placements[i - 1].step if i > 0 else -1
        extras += [
            ExtraRun(p.step if k > keep else before, a, b)
            for k, (a, b) in enumerate(pieces)
            if k != keep
        ]
    return spans, extras


def _sequence_warp(seq: SequenceAlignment, steps: tuple[Step, ...], n_trainee: int) -> float:
    """Warp of the path through the performed steps laid end to end in the order the
    trainee did them, so a swap or a left-out step is not counted a second time."""
    offset: dict[int, int] = {}
    total = 0
    for s in seq.order:
        offset[s] = total
        total += steps[s].end_clip - steps[s].start_clip
    step_of = np.empty(steps[-1].end_clip, dtype=np.int64)
    for s in steps:
        step_of[s.start_clip : s.end_clip] = s.index
    gold_clip = seq.path[:, 0]
    owner = step_of[gold_clip]
    position = (
        np.array([offset[o] for o in owner])
        + gold_clip
        - np.array([steps[o].start_clip for o in owner])
    )
    return path_warp(np.stack([position, seq.path[:, 1]], axis=1), total, n_trainee)


def _deviation_order(d: Deviation) -> tuple[int, int]:
    return (d.gold_step if d.gold_step is not None else 10**9, DEVIATION_TYPES.index(d.type))


def _named(step: Step) -> str:
    """How a step is called in a deviation's detail: its number, and its authored name."""
    if step.label == default_step_name(step.index):
        return f"step {step.index + 1}"
    return f"step {step.index + 1} ({step.label!r})"


def _penalties(
    counts: dict[str, int],
    weighted: dict[str, float],
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
            config.miss_penalty * weighted["missing_step"],
            f"{config.miss_penalty:g} points per gold step not performed (times the step's weight)",
        ),
        Penalty(
            "swapped steps",
            counts["swapped_step"],
            config.swap_penalty * weighted["swapped_step"],
            f"{config.swap_penalty:g} points per adjacent pair done in reverse order (times "
            "the heavier step's weight)",
        ),
        Penalty(
            "over time",
            round(over_time_severity, 3),
            config.over_time_penalty * over_time_severity,
            f"{config.over_time_penalty:g} points x (duration ratio - 1, at most 1) x weight "
            "per slow step",
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
