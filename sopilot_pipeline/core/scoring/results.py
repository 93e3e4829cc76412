"""What scoring is told and what it returns: its settings, what the task's other golds
allow, deviations, step matches, penalties and the score."""

from __future__ import annotations

from dataclasses import dataclass, field

from sopilot_pipeline.core.scoring.step_alignment import (
    Edit,
    StepSequencePath,
)
from sopilot_pipeline.core.segment.steps import (
    Step,
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
    # a set-aside run that raises the cost of the step beside it by less than this when
    # taken into it is the slow part of that step, not an extra action (``_slow_parts``)
    slow_part_margin: float = 0.06
    # a step whose whole span matches it better by this than its best excursion from
    # rest alone is one slow step, not a step and extra actions (``_split_at_rest``)
    whole_step_margin: float = 0.10
    delete_price: float = 0.3  # per gold clip: saving needed to call a step missing
    swap_price: float = 0.1  # per gold clip of the pair: saving needed to call a swap
    # a pair left in gold order whose steps' cores match the other order better by this
    # (mean cost) was swapped all the same (``step_alignment._swapped_cores``)
    core_swap_margin: float = 0.08
    found_cost: float = 0.6  # a step matched this well somewhere is performed, not missing
    # durations are measured to about one clip stride (0.5 s) at each end, hence the
    # margins: more than two strides over, and 1.35 times the slowest gold once what a
    # neighbouring deviation may have lent the step is given back (``lent_by_neighbours``)
    over_time_ratio: float = 1.35
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
    """What the task's other golds allow one gold's steps (``core.scoring.gold_model``)."""

    # adjacent step pairs (a, a + 1) that some gold performs b-then-a: not a swap
    free_pairs: frozenset[tuple[int, int]] = frozenset()
    # per step, the longest any gold takes over it; empty: this gold's own durations
    slowest_duration_sec: tuple[float, ...] = ()
    # the task is performed from a rest pose: a slow-looking step with a return to rest
    # inside is the step and an extra action (``_split_at_rest``)
    rest_pose: bool = False
    # the golds' rest pose (unit vector, adapted features; empty: none): how a trainee
    # that opens mid-step is read at rest (``segment.steps.trainee_rest``)
    rest_pose_vector: tuple[float, ...] = ()
    # per other gold of the task, that gold's step performing each of these steps (-1:
    # none): where golds explain a trainee differently, each explanation is tried on the
    # others (``score.best_gold``)
    counterparts: tuple[tuple[str, tuple[int, ...]], ...] = ()


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
    alignment: StepSequencePath  # costs in units of the gold's step contrast
    edits: tuple[Edit, ...]
    mean_cost: float  # per aligned cell, over the trainee's step clips
    warp: float
    contrast: float
    counts: dict[str, int] = field(default_factory=dict)
    # steps another gold's explanation finds within its time (``score._timely_elsewhere``)
    timely_elsewhere: frozenset[int] = frozenset()
