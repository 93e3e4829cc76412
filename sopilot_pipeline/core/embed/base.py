"""What every clip embedder shares: the embeddings it returns, the protocol it follows,
and the clip layout.

A clip is ``clip_frames`` consecutive sampled frames, taken every ``clip_stride`` frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ClipEmbeddings:
    vectors: np.ndarray  # (n_clips, dim) float32
    start_sec: np.ndarray  # (n_clips,) float64
    end_sec: np.ndarray  # (n_clips,) float64
    embedder: str


class ClipEmbedder(Protocol):
    """What an embedder is to the pipeline. A new embedder is one class with these, and
    its line in ``registry.GROUPED`` if its features come in weighted groups."""

    name: str  # stored with every embedding: embeddings are compared only within a name

    @property
    def feature_groups(self) -> tuple[tuple[int, float], ...] | None:
        """(size, weight) of each group of dimensions, in order (None: one homogeneous
        group); the adapter gives each group its weight whatever its size."""
        ...

    @property
    def dim(self) -> int:
        """Length of one clip's vector."""
        ...

    @property
    def where_groups(self) -> tuple[int, ...]:
        """Indices of the groups that say where the motion goes (weighed double in tasks
        done from a rest pose); () for none."""
        ...

    @property
    def moving_share_group(self) -> int | None:
        """Index of the group whose mean is the share of the frame that moves (what tells
        a hand busy near its rest pose from one resting there); None for none."""
        ...

    def describe(self) -> dict[str, str | int]:
        """What produced a set of embeddings, for their metadata: the name, and for a
        model its source, weights revision, device and clip shape."""
        ...

    def frame_size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) to decode sampled frames at, for a video of this size."""
        ...

    def embed(self, frames: np.ndarray, times: np.ndarray, fps: float) -> ClipEmbeddings: ...

    def embed_frames(
        self, frames: Iterable[tuple[float, np.ndarray]], fps: float
    ) -> ClipEmbeddings:
        """``embed`` over (seconds, frame) pairs as a video is decoded (``sampled_frames``):
        an embedder that can, embeds them without holding the video."""
        ...


def clip_windows(n_frames: int, clip_frames: int, clip_stride: int) -> list[tuple[int, int]]:
    """[start, end) frame windows; a video shorter than one clip gives one short clip."""
    if n_frames <= 0:
        return []
    if n_frames <= clip_frames:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - clip_frames + 1, clip_stride))
    if starts[-1] + clip_frames < n_frames:  # cover the tail
        starts.append(n_frames - clip_frames)
    return [(s, s + clip_frames) for s in starts]
