"""Deviation detection and the 0-100 score: 100 minus weighted penalties, each kept
with its explanation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from sopilot_pipeline.core.align.dtw import cosine_cost, dtw_from_cost
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.scoring.deviations import (
    _sequence_warp,
    extra_step,
    is_free_swap,
    lent_by_neighbours,
    missing_step,
    over_time,
    swapped_steps,
    temporal_warp,
)
from sopilot_pipeline.core.scoring.explain import Explanation, align_to_gold, search_prices
from sopilot_pipeline.core.scoring.performed import performed_steps
from sopilot_pipeline.core.scoring.results import (
    DEVIATION_TYPES,
    Deviation,
    GoldVariation,
    Penalty,
    ScoreResult,
    ScoringConfig,
)
from sopilot_pipeline.core.scoring.step_alignment import align_step_sequence
from sopilot_pipeline.core.segment.steps import (
    Step,
    clips_per_second,
)


def evaluate_trainee(
    gold: ClipSeries,
    steps: tuple[Step, ...],
    trainee: ClipSeries,
    config: ScoringConfig | None = None,
    alignment: Explanation | None = None,
    variation: GoldVariation | None = None,
    timely_elsewhere: frozenset[int] = frozenset(),
) -> ScoreResult:
    """Score a trainee video against one gold video whose steps are known.

    Both embeddings must already be in the same (adapted) feature space; an alignment
    computed earlier with the same inputs (see ``align_to_gold``) is reused when given.
    ``variation`` carries what the task's other golds allow: a pair done in an order
    some gold shows is no swap, and a step is slow only against the slowest gold.
    ``timely_elsewhere``: steps that another gold's explanation of this trainee finds
    within its time (``_timely_elsewhere``), never over time.
    """
    config = config or ScoringConfig()
    variation = variation or GoldVariation()
    alignment = alignment or align_to_gold(gold, steps, trainee, config)
    seq = alignment.sequence
    edits = tuple(e for e in alignment.edits if not is_free_swap(e, variation))
    deviations = [
        missing_step(steps[e.steps[0]], e)
        if e.kind == "delete"
        else swapped_steps(e, steps, seq, trainee)
        for e in edits
    ]
    swapped = {steps[i].index for e in edits if e.kind == "swap" for i in e.steps}
    step_matches, runs = performed_steps(alignment, steps, trainee, variation, config, swapped)
    extra = [d for run in runs if (d := extra_step(run, steps, trainee, config)) is not None]
    stride = 1.0 / clips_per_second(trainee.start_sec)
    lent = lent_by_neighbours(step_matches, extra, variation, config, stride)
    slow = [
        d
        for m in step_matches
        if m.step.index not in timely_elsewhere
        and (d := over_time(m, variation, config, lent.get(m.step.index, 0.0))) is not None
    ]
    warp = _sequence_warp(seq, steps, len(trainee.vectors))
    strayed = temporal_warp(warp, config)
    deviations = [
        replace(d, step_name=steps[d.gold_step].label) if d.gold_step is not None else d
        for d in (*deviations, *slow, *extra, *([strayed] if strayed else []))
    ]
    counts = {t: sum(d.type == t for d in deviations) for t in DEVIATION_TYPES}
    weighted = {
        "missing_step": sum(steps[e.steps[0]].weight for e in edits if e.kind == "delete"),
        "swapped_step": sum(
            max(steps[i].weight for i in e.steps) for e in edits if e.kind == "swap"
        ),
        "over_time": sum((d.severity * steps[d.gold_step].weight for d in slow), 0.0),
    }
    mean_cost = alignment.mean_cost
    penalties = _penalties(counts, weighted, warp, mean_cost, config)
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
        timely_elsewhere=timely_elsewhere,
    )


def best_gold(
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    trainee: ClipSeries,
    alignments: Mapping[str, Explanation],
    variations: Mapping[str, GoldVariation],
    config: ScoringConfig | None = None,
) -> tuple[str, ScoreResult]:
    """The gold of a task that explains the trainee best (``explanation_rank``), and the
    trainee's result against it.

    Golds that find the same deviation points may still tell different stories (one
    says the third step is missing, the other the fourth, where the two look alike).
    Then each story is tried on the other golds (``_disagreement``) and the one they
    contradict least is told: the golds together are the model of the procedure. On
    the tuning seeds the worst-matched step alone chose the gold filmed most like the
    trainee with the wrong story (detected 5050 and 5353: missing steps one away).
    The best gold's step is over time only where every gold that has it finds it so
    (``_timely_elsewhere``).
    """
    results = {
        g: evaluate_trainee(
            series, steps, trainee, config, alignment=alignments[g], variation=variations[g]
        )
        for g, (series, steps) in golds.items()
    }
    rank = {g: explanation_rank(r) for g, r in results.items()}
    best = min(results, key=rank.__getitem__)
    tied = [g for g in results if rank[g][0] == rank[best][0]]
    if len(tied) > 1:
        config = config or ScoringConfig()
        disagreement = {
            g: _disagreement(g, tied, golds, alignments, variations, config) for g in tied
        }
        if all(d is not None for d in disagreement.values()):
            best = min(tied, key=lambda g: (disagreement[g], rank[g]))
    finer = [
        g for g in results if _tells_more(results[g], g, results[best], best, golds, variations)
    ]
    if finer:
        best = min(finer, key=rank.__getitem__)
    elif across := [
        g
        for g in results
        if _told_across_split(g, best, results, alignments, golds, variations, config)
    ]:
        best = min(across, key=rank.__getitem__)
    best = _set_aside_elsewhere(results, variations, best) or best
    timely = _timely_elsewhere(results, variations, best)
    if timely:
        series, steps = golds[best]
        return best, evaluate_trainee(
            series, steps, trainee, config, alignments[best], variations[best], timely
        )
    return best, results[best]


def _timely_elsewhere(
    results: Mapping[str, ScoreResult], variations: Mapping[str, GoldVariation], best: str
) -> frozenset[int]:
    """The steps the best gold finds over time that another gold's explanation of the
    trainee finds within its time: where that gold performs the step as one step of
    its own (not merged with another) and finds it done. Once the best gold is chosen:
    a gold that read the time as an extra action finds the step in time, and must not
    make the gold that read it as a slow step the better story (tuning seeds 4242 and
    4545: two extra actions lost so).

    Golds are filmed at their own pace and each measures the trainee's steps on its
    own clips, so the same step can be over the limit against one gold and within it
    against another: a trainee is never penalised for what some gold finds in time. On
    the authored and detected runs of twelve tuning seeds no true over time in a
    two-gold task was lost and one false one went (5757 task 06: an extra action read
    by one gold as the step before it at 1.73x).
    """
    slow = [d.gold_step for d in results[best].deviations if d.type == "over_time"]
    return frozenset(
        step
        for step in slow
        if step is not None
        and any(
            _timely_in(results[h], mapping, step)
            for h, mapping in variations[best].counterparts
            if h in results
        )
    )


def _set_aside_elsewhere(
    results: Mapping[str, ScoreResult], variations: Mapping[str, GoldVariation], best: str
) -> str | None:
    """Another gold that finds a step the best gold finds over time done in time, with
    an extra action beside it: the seconds one gold gives the step, the other sets
    aside as an action of its own. Excused as in time (``_timely_elsewhere``), the
    best gold's story would account for those seconds nowhere; the other gold's story
    accounts for them (fresh tuning seed 9206, task 06: a wipe after a step, read by
    one gold as the step at 1.59x, by the other as the extra action it was, was
    reported as nothing). Not where the other gold's story tells more besides: a slow
    step it reads as a step left out and an extra action is two misreadings for one
    (fresh tuning seed 9209, task 06)."""
    slow = [d.gold_step for d in results[best].deviations if d.type == "over_time"]
    for h, mapping in variations[best].counterparts:
        if h not in results or len(results[h].deviations) > len(results[best].deviations):
            continue
        for step in slow:
            own = _counterpart(mapping, step)
            beside = any(
                d.type == "extra_step" and d.gold_step in (own, own - 1)
                for d in results[h].deviations
            )
            if own >= 0 and beside and _timely_in(results[h], mapping, step):
                return h
    return None


def _counterpart(mapping: tuple[int, ...], step: int | None) -> int:
    """The other gold's step performing this gold's ``step`` (-1 for none)."""
    return mapping[step] if step is not None and step < len(mapping) else -1


def _timely_in(other: ScoreResult, mapping: tuple[int, ...], step: int) -> bool:
    """Whether ``other`` finds the trainee's ``step`` (through ``mapping``, that gold's
    step performing each of this gold's) done and not over time."""
    own = _counterpart(mapping, step)
    if own < 0 or own in _merged(mapping):
        return False
    done = any(m.found and m.step.index == own for m in other.step_matches)
    late = any(d.type == "over_time" and d.gold_step == own for d in other.deviations)
    return done and not late


def _merged(mapping: tuple[int, ...]) -> set[int]:
    """The other gold's steps that perform more than one of this gold's (``mapping``:
    that gold's step performing each of this gold's, -1 for none)."""
    shares = [b for b in mapping if b >= 0]
    return {b for b in shares if shares.count(b) > 1}


def _tells_more(
    result: ScoreResult,
    g: str,
    coarse: ScoreResult,
    coarse_gold: str,
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    variations: Mapping[str, GoldVariation],
) -> bool:
    """Whether gold ``g`` tells ``coarse``'s story and more: its steps split steps that
    the other gold's detection merged, it finds deviations between those pieces, and
    everywhere else it finds what the other finds. A merged step hides a swap or a
    step left out inside it (the merged gold sees at most something odd in that step),
    so the gold that merged explains the trainee with fewer deviations and would be
    told; two steps done in reverse are seen only by the gold that has them apart (the
    two-golds pipeline test: a swap of the last two steps, inside one step of the
    other gold, scored as clean). Not a swap of a pair the merged gold does in that
    order itself (``_merged_in_order``): merged, the pair two golds do in opposite
    orders is no longer seen as free (tuning seed 5252, detected: six trainees with a
    false swap). A swap of a step merged with its other neighbour is not such a pair:
    the merged gold would have to cut its step in two to see it (fresh tuning seed 9201,
    detected, task 06: the steps after a merged pair swapped, read as clean)."""
    mapping = dict(variations[g].counterparts).get(coarse_gold)
    if mapping is None:
        return False
    merged = _merged(mapping)
    if not merged:
        return False

    def coarse_step(step: int | None) -> int | None:
        return None if step is None else mapping[step]

    def touched(d: Deviation) -> list[int | None]:
        pair = [d.gold_step, d.gold_step + 1] if d.type == "swapped_step" else [d.gold_step]
        return [coarse_step(s) for s in pair]

    inside = [d for d in result.deviations if set(touched(d)) & merged]
    if any(
        d.type == "swapped_step"
        and len(set(touched(d))) == 1
        and not _merged_in_order(golds[g], golds[coarse_gold], d.gold_step, mapping[d.gold_step])
        for d in inside
    ):
        return False
    outside = {(d.type, coarse_step(d.gold_step)) for d in result.deviations if d not in inside}
    told = {(d.type, d.gold_step) for d in coarse.deviations if d.gold_step not in merged}
    return bool(inside) and outside == told


def _told_across_split(
    g: str,
    split_gold: str,
    results: Mapping[str, ScoreResult],
    alignments: Mapping[str, Explanation],
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    variations: Mapping[str, GoldVariation],
    config: ScoringConfig | None,
) -> bool:
    """Whether gold ``g`` tells a swap of a step that ``split_gold`` has in pieces, a
    story ``split_gold``'s own costs prefer once priced.

    Where one gold's detection cut a step in two, a swap of that step with its
    neighbour is, on the cut gold, two steps moved past one: no single edit of its
    search, which then reads the trainee as clean with its worst steps matched at
    0.7 (fresh tuning seed 9201, detected, task 04). Laid out on the cut gold's steps,
    the other gold's order is priced as the search prices any order; where it explains
    the cut gold's own costs better than its search did, that story is told."""
    if g == split_gold or not any(d.type == "swapped_step" for d in results[g].deviations):
        return False
    mapping = dict(variations[split_gold].counterparts).get(g)
    if mapping is None or -1 in mapping:
        return False
    split_at = _merged(mapping)
    if not any(
        d.type == "swapped_step" and {d.gold_step, d.gold_step + 1} & split_at
        for d in results[g].deviations
    ):
        return False
    pieces = {c: [s for s, b in enumerate(mapping) if b == c] for c in set(mapping)}
    order = tuple(s for c in alignments[g].sequence.order for s in pieces.get(c, []))
    config = config or ScoringConfig()
    steps, own = golds[split_gold][1], alignments[split_gold].sequence
    prices, free = search_prices(config), variations[split_gold].free_pairs
    told = align_step_sequence(alignments[split_gold].cost, steps, order, config.extra_cost)
    told_total = told.total_cost + prices.of_order(order, steps, free)
    return told_total < own.total_cost + prices.of_order(own.order, steps, free)


def _disagreement(
    g: str,
    tied: list[str],
    golds: Mapping[str, tuple[ClipSeries, tuple[Step, ...]]],
    alignments: Mapping[str, Explanation],
    variations: Mapping[str, GoldVariation],
    config: ScoringConfig,
) -> float | None:
    """How much worse the other golds explain the trainee when made to follow gold
    ``g``'s explanation (the steps it says the trainee did, in that order) than by
    their own search, each by the search's own measure; None where a gold's steps do
    not correspond one to one (``GoldVariation.counterparts``)."""
    counterparts = dict(variations[g].counterparts)
    prices = search_prices(config)
    total = 0.0
    for h in tied:
        if h == g:
            continue
        mapping, steps = counterparts.get(h), golds[h][1]
        if mapping is None or sorted(mapping) != list(range(len(steps))):
            return None
        order = tuple(mapping[s] for s in alignments[g].sequence.order)
        followed = align_step_sequence(alignments[h].cost, steps, order, config.extra_cost)
        own = alignments[h].sequence
        free = variations[h].free_pairs
        total += followed.total_cost + prices.of_order(order, steps, free)
        total -= own.total_cost + prices.of_order(own.order, steps, free)
    return total


def _merged_in_order(
    fine: tuple[ClipSeries, tuple[Step, ...]],
    coarse: tuple[ClipSeries, tuple[Step, ...]],
    first: int,
    merged: int,
) -> bool:
    """Whether the coarse gold's step ``merged`` does the fine gold's steps ``first``
    and ``first + 1`` in that order: both fine steps laid end to end follow its clips
    better (DTW mean cost) that way round than the other."""
    (series, steps), (coarse_series, coarse_steps) = fine, coarse
    target = coarse_series.vectors[coarse_steps[merged].start_clip : coarse_steps[merged].end_clip]

    def clips(s: int) -> np.ndarray:
        return series.vectors[steps[s].start_clip : steps[s].end_clip]

    def fit(order: tuple[int, int]) -> float:
        laid = np.concatenate([clips(s) for s in order])
        return dtw_from_cost(cosine_cost(laid, target)).mean_cost

    return fit((first, first + 1)) <= fit((first + 1, first))


def explanation_rank(result: ScoreResult) -> tuple[float, float, float]:
    """Lower explains better: fewer deviation points, then the better worst-matched
    step, then the lower mean cost.

    Not the score itself, whose alignment-cost penalty favours the gold filmed most like
    the trainee: a gold from another camera has higher costs everywhere, and on a tie of
    deviations lost to one that kept a step matched at 0.85 (tuning seed 4444). On the
    four tuning seeds this found 3 more missing steps with 3 fewer false ones.
    """
    points = sum(p.points for p in result.penalties if p.name != "alignment cost")
    worst = max((m.mean_cost for m in result.step_matches if m.found), default=0.0)
    return (round(points, 6), worst, result.mean_cost)


def _deviation_order(d: Deviation) -> tuple[int, int]:
    return (d.gold_step if d.gold_step is not None else 10**9, DEVIATION_TYPES.index(d.type))


def _penalties(
    counts: dict[str, int],
    weighted: dict[str, float],
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
            round(weighted["over_time"], 3),
            config.over_time_penalty * weighted["over_time"],
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
