"""The trainee's rest pose as the scoring rules read it: where the trainee is at rest,
where it leaves rest, and where it is busy close to its rest pose.

A pose is appearance; resting is also keeping still. An action done close to where the
hand rests (wiping the bench in small circles) can look like the rest pose to an
embedder that smears a small motion over a 1-s clip, and is then no excursion at all:
on the assembly tuning seeds a wipe read so made the step before it look slow. Where
the embedder measures how much of the frame moves (``ClipSeries.motion``), such clips
are told apart by that.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.segment.steps import clips_per_second, trainee_rest

BUSY_SHARE = 0.5
"""A clip moves when more of its frame moves than this share of the video's median clip
(``busy_near_rest``)."""
BUSY_FLOOR = 0.002
"""...and more than this share of the frame: a few pixels (a passer-by far off, noise
that got through) are not a hand at work, in a video where little moves at all."""
BUSY_MIN_SEC = 2.0
"""How long clips that look like the rest pose must keep moving to be busy, not at rest."""


@dataclass(frozen=True)
class TraineeRest:
    """One trainee video's rest, per clip; nothing at rest and no returns when the video
    is not read as done from a rest pose."""

    returns: np.ndarray  # clip indices where it clearly comes back to rest
    resting: np.ndarray  # per clip: in the rest pose and not busy there
    busy: np.ndarray  # per clip: looks like the rest pose but keeps moving
    # per clip: away from rest or moving (``moving_clips``); None where the embedder
    # does not measure motion
    active: np.ndarray | None
    stride_sec: float

    @cached_property
    def departures(self) -> np.ndarray:
        """Clips where the trainee leaves rest (``departures``)."""
        return departures(self.resting)

    def still(self, first: int, last: int) -> bool:
        """Whether the trainee keeps still at rest over clips ``first``-``last``: at rest
        in every clip but the first, which may hold its arrival there. Not one clip off
        rest alone, as ``departures`` allows: a wipe near rest reads as rest and off it
        in turn (tuning seed 5858 task 07)."""
        return bool(self.resting[first + 1 : last + 1].all())

    def pause(self, first: int, last: int, action_sec: float) -> bool:
        """Whether the trainee pauses over clips ``first``-``last`` rather than doing
        something: away from rest or moving for less than ``action_sec``. An action
        moves; a stretch at rest but for a clip or two (the hand arriving, a twitch) is
        a pause, however unlike the gold's rest it looks (detected tuning seed 6161 task
        01: a step at 2.0x, its long rest after a slow return set aside as an extra
        action, 0.5 s of it moving), while a wipe near rest that the pose reads as rest
        keeps moving (6060 task 02: 3 of its 5 clips at rest, 4 moving). Where motion
        is not measured: keeping still (``still``)."""
        if self.active is None:
            return self.still(first, last)
        return float(self.active[first : last + 1].sum()) * self.stride_sec < action_sec

    @cached_property
    def busy_edges(self) -> np.ndarray:
        """Where each busy stretch begins, and the clip after it ends."""
        return _run_edges(self.busy)


def _run_edges(mask: np.ndarray) -> np.ndarray:
    """Where each run of True in ``mask`` begins and the index after it ends, in turn."""
    return np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))


def departures(resting: np.ndarray) -> np.ndarray:
    """Clips where the trainee leaves rest: the first of two not at rest after one at
    rest (a single clip off rest between two at rest is noise or a passer-by)."""
    r = np.asarray(resting, dtype=bool)
    if len(r) < 3:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(r[:-2] & ~r[1:-1] & ~r[2:]).astype(np.int64) + 1


def moving_clips(motion: np.ndarray) -> np.ndarray:
    """Per clip, whether more of its frame moves than ``BUSY_SHARE`` of the video's median
    clip (and ``BUSY_FLOOR``)."""
    return motion > max(BUSY_SHARE * float(np.median(motion)), BUSY_FLOOR)


def busy_near_rest(pose: np.ndarray, motion: np.ndarray, start_sec: np.ndarray) -> np.ndarray:
    """Per clip, whether the trainee is busy close to its rest pose: clips in the pose
    (``pose``) that keep moving, each more than ``BUSY_SHARE`` of the video's median
    clip (and ``BUSY_FLOOR``), for ``BUSY_MIN_SEC`` or more.

    A clip at rest beside a step moves too (the hand arriving or leaving within the
    clip), but for a clip or two: on the authored runs of the 14 tuning seeds, runs of
    moving clips in the pose lasted two or three clips 2,131 times outside an extra
    action, four clips (2 s) 9 times outside one and 4 times inside, five or more (2.5 s)
    only inside one (21 times). 24 of the 109 wipes there were read as rest throughout
    (80 % of their clips or more), 22 of them busy for at least half their clips."""
    moving = pose & moving_clips(motion)
    busy = np.zeros(len(pose), dtype=bool)
    if len(pose) < 2:
        return busy
    edges = _run_edges(moving)
    stride = 1.0 / clips_per_second(start_sec)
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        if start_sec[stop - 1] + stride - start_sec[first] >= BUSY_MIN_SEC - 1e-6:
            busy[first:stop] = True
    return busy


def read_rest(
    returns: np.ndarray, pose: np.ndarray, motion: np.ndarray | None, start_sec: np.ndarray
) -> TraineeRest:
    """The trainee's rest from its returns, the clips in its rest pose and (where the
    embedder measures it) the share of each clip's frame that moves."""
    if motion is not None and len(returns):
        busy = busy_near_rest(pose, motion, start_sec)
        active = ~pose | moving_clips(motion)
    else:
        busy, active = np.zeros(len(pose), dtype=bool), None
    stride = 1.0 / clips_per_second(start_sec) if len(pose) > 1 else 0.0
    return TraineeRest(returns, pose & ~busy, busy, active, stride)


_REST_OF: dict[int, tuple[weakref.ref[ClipSeries], tuple[float, ...], TraineeRest]] = {}


def rest_of(trainee: ClipSeries, golds_rest_pose: tuple[float, ...] = ()) -> TraineeRest:
    """The trainee's rest, once per trainee series, not once per gold that explains it:
    an O(n^2) distance, 4 s for a 60-minute video. Only the last series is kept.
    ``golds_rest_pose``: its task's golds' rest pose, where they are done from rest
    (``segment.steps.trainee_rest``)."""
    held = _REST_OF.get(id(trainee))
    if held is not None and held[0]() is trainee and held[1] == golds_rest_pose:
        return held[2]
    pose = np.asarray(golds_rest_pose, dtype=np.float32) if golds_rest_pose else None
    returns, at_rest = trainee_rest(
        trainee.vectors, trainee.start_sec, trainee.end_sec, golds_rest_pose=pose
    )
    motion = None if trainee.motion is None else np.asarray(trainee.motion)
    found = read_rest(returns, at_rest, motion, trainee.start_sec)
    _REST_OF.clear()
    _REST_OF[id(trainee)] = (weakref.ref(trainee), golds_rest_pose, found)
    return found
