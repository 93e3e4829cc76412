"""Clip embeddings of one video with their times: what every room after ``embed``
passes around."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipSeries:
    """Clip embeddings of one video with their times."""

    vectors: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray
    # per clip, the share of the frame that moves, where the embedder measures it
    # (``registry.moving_share``): a hand busy near its rest pose is not resting
    motion: np.ndarray | None = None

    def span_times(self, first: int, last: int) -> tuple[float, float]:
        """Seconds covered from clip ``first`` up to where clip ``last + 1`` starts."""
        end = self.start_sec[last + 1] if last + 1 < len(self.start_sec) else self.end_sec[last]
        return float(self.start_sec[first]), float(end)

    def mapped(self, transform: Callable[[np.ndarray], np.ndarray]) -> ClipSeries:
        """The same clips with their vectors in another feature space (an adapter's)."""
        return ClipSeries(transform(self.vectors), self.start_sec, self.end_sec, self.motion)
