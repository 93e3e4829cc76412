"""Step detection at returns to a rest pose, on synthetic clip embeddings with exact truth."""

from __future__ import annotations

import numpy as np

from sopilot_pipeline.core.segment.steps import (
    StepDetectionConfig,
    detect_step_boundaries,
    performed_from_rest,
)

CLIP_SEC = 0.5
rng = np.random.default_rng(11)
REST = rng.normal(size=48)
REACH = rng.normal(size=48)  # every step is the same reach ...
PLACE = rng.normal(size=(6, 48))  # ... and differs only in where the part goes


def _performance(opening_rest: float, closing_rest: float | None, seed: int = 0) -> tuple:
    """Six alike steps of four clips, two clips at rest between them. The first clip is
    ``opening_rest`` at rest and the rest of it the first reach (the actor leaves
    within the first second); two closing clips ``closing_rest`` at rest (None: the
    video stops at the end of the last step)."""
    r = np.random.default_rng(seed)
    rows = [opening_rest * REST + (1 - opening_rest) * REACH]
    starts = []
    for k, place in enumerate(PLACE):
        if k:
            rows += [REST, REST]
        starts.append(len(rows) - (0 if k == 0 else 1))  # mid-rest: where the step begins
        rows += [REACH + 0.05 * place] * 4
    if closing_rest is not None:
        rows += [closing_rest * REST + (1 - closing_rest) * REACH] * 2
    x = np.vstack(rows) + r.normal(scale=0.3, size=(len(rows), 48))
    start = np.arange(len(x)) * CLIP_SEC
    return x.astype(np.float32), start, start + 1.0, starts[1:]


def test_a_video_that_opens_partway_out_of_rest_is_still_segmented_at_its_returns() -> None:
    x, start, end, truth = _performance(opening_rest=0.22, closing_rest=1.0)
    # alike steps: change points merge them, the returns to rest do not
    assert len(detect_step_boundaries(x, start, StepDetectionConfig(method="kernel"))) < 3
    assert performed_from_rest(x, start, end)
    found = detect_step_boundaries(x, start, end_sec=end)
    assert len(found) == len(truth)
    assert np.abs(start[found] - start[truth]).max() <= 0.5


def test_opening_partway_out_of_rest_counts_only_when_the_video_ends_near_rest() -> None:
    # without the rest at the end nothing says the first clip's pose is the one the
    # actor returns to: a tray visited every other step looks just like that
    x, start, end, _ = _performance(opening_rest=0.22, closing_rest=None)
    assert not performed_from_rest(x, start, end)
    x, start, end, _ = _performance(opening_rest=1.0, closing_rest=None)
    assert performed_from_rest(x, start, end)


def test_a_video_at_rest_only_partway_at_both_ends_is_still_read_from_rest() -> None:
    """As parts pile up, the scene at the last rest drifts from the pose: a video that
    opens and ends only closer to the rest pose than its median clip, with more clear
    returns than change points, is still a procedure done from rest."""
    x, start, end, truth = _performance(opening_rest=0.22, closing_rest=0.1)
    assert performed_from_rest(x, start, end)
    found = detect_step_boundaries(x, start, end_sec=end)
    assert len(found) == len(truth)
    assert np.abs(start[found] - start[truth]).max() <= 0.5


def test_a_long_step_splits_at_a_return_well_under_half_as_deep() -> None:
    """Parts pile up as the procedure goes, so a late return to rest can be shallow: here
    the last one is 0.4 as prominent as a clear return must be. The step it leaves
    unsplit is twice its peers' length, which is the evidence; it splits there."""
    r = np.random.default_rng(0)
    rows = [REST, REST]
    starts = []
    for k, place in enumerate(PLACE):
        if k:
            mix = 0.23 if k == len(PLACE) - 1 else 1.0  # the last return barely reaches rest
            rows += [mix * REST + (1 - mix) * REACH] * 2
            starts.append(len(rows) - 1)
        rows += [REACH + 0.3 * place] * 4
    rows += [REST, REST]
    x = (np.vstack(rows) + r.normal(scale=0.15, size=(len(rows), 48))).astype(np.float32)
    start = np.arange(len(x)) * CLIP_SEC
    found = detect_step_boundaries(x, start, end_sec=start + 1.0)
    assert len(found) == len(starts)
    assert np.abs(start[found] - start[starts]).max() <= 0.5


def test_a_trainee_return_must_be_clearer_than_a_gold_boundary() -> None:
    """A shallow return (the fourth step's start, the hand only partway back) is a step
    boundary of a gold, read at ``rest_prominence``; a trainee's returns split its
    spans into extra actions and are read at ``trainee_rest_prominence``: with that set
    above the return's prominence the trainee is not split there."""
    from sopilot_pipeline.core.segment.steps import trainee_rest

    r = np.random.default_rng(0)
    rows = [REST, REST]
    for k, place in enumerate(PLACE):
        if k:
            rest = 0.26 * REST + 0.74 * REACH if k == 3 else REST
            rows += [rest, rest]
        rows += [REACH + 0.05 * place] * 4
    x = (np.vstack([*rows, REST, REST]) + r.normal(scale=0.3, size=(len(rows) + 2, 48))).astype(
        np.float32
    )
    start = np.arange(len(x)) * CLIP_SEC
    end = start + 1.0
    strict = StepDetectionConfig(rest_prominence=0.3, trainee_rest_prominence=0.5)
    gold = detect_step_boundaries(x, start, StepDetectionConfig(method="rest"), end)
    assert len(gold) == 5  # every step start, the shallow one included
    assert len(trainee_rest(x, start, end, strict)[0]) == 4
    loose = StepDetectionConfig(trainee_rest_prominence=0.3)
    assert len(trainee_rest(x, start, end, loose)[0]) == 5


def test_a_trainee_who_sets_off_at_once_is_read_at_the_golds_rest_pose() -> None:
    """Nothing in a trainee that opens mid-step says which pose it keeps coming back to
    is its rest; its task's golds, done from rest, do. Asked with their rest pose
    (``rest_pose`` of a gold filmed alike), the trainee's returns are read; asked with
    another pose (a part pressed into the board, come back to as often), or not asked,
    they are not."""
    from sopilot_pipeline.core.segment.steps import rest_pose, trainee_rest

    # six alike steps, the first begun before the camera's first clip
    x, start, end, truth = _performance(opening_rest=0.0, closing_rest=1.0)
    assert not len(trainee_rest(x, start, end)[0])
    gold, g_start, g_end, _ = _performance(opening_rest=1.0, closing_rest=1.0, seed=5)
    pose = rest_pose(gold, g_start, g_end)
    assert pose is not None and float(pose @ REST) / np.linalg.norm(REST) > 0.9
    returns, resting = trainee_rest(x, start, end, golds_rest_pose=pose)
    assert np.abs(start[returns] - start[truth]).max() <= CLIP_SEC
    assert len(returns) == len(truth) and resting[-1] and not resting[0]
    elsewhere = (REACH / np.linalg.norm(REACH)).astype(np.float32)
    assert not len(trainee_rest(x, start, end, golds_rest_pose=elsewhere)[0])
