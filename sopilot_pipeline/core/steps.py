"""Step boundary detection on a gold video's clip embeddings.

A boundary is where the clips just before and just after look most different
(a windowed novelty curve). Peaks above ``mean + k * std`` of that curve become
boundaries, strongest first, as long as every step keeps ``min_step_clips`` clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sopilot_pipeline.core.dtw import l2_normalise


@dataclass(frozen=True)
class Step:
    index: int
    start_clip: int
    end_clip: int  # exclusive
    start_sec: float
    end_sec: float

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


def novelty_curve(vectors: np.ndarray, window: int = 2) -> np.ndarray:
    """novelty[b] = cosine distance between the ``window`` clips before b and from b on."""
    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    out = np.zeros(n, dtype=np.float64)
    if n < 2:
        return out
    x = l2_normalise(x - x.mean(axis=0)).astype(np.float64)
    csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    for b in range(1, n):
        lo, hi = max(0, b - window), min(n, b + window)
        before = (csum[b] - csum[lo]) / (b - lo)
        after = (csum[hi] - csum[b]) / (hi - b)
        denom = np.linalg.norm(before) * np.linalg.norm(after)
        out[b] = 1.0 - float(before @ after) / denom if denom > 1e-12 else 0.0
    return out


def detect_step_boundaries(
    vectors: np.ndarray,
    min_step_clips: int = 4,
    threshold_std: float = 0.5,
    window: int = 2,
) -> np.ndarray:
    """Sorted clip indices at which a new step starts (0 is implied, not returned)."""
    n = len(vectors)
    if n < 2 * min_step_clips:
        return np.zeros(0, dtype=np.int64)
    nov = novelty_curve(vectors, window)
    inner = nov[1:]
    threshold = inner.mean() + threshold_std * inner.std()
    peaks = [
        b
        for b in range(1, n)
        if nov[b] > threshold and nov[b] >= nov[b - 1] and (b + 1 >= n or nov[b] >= nov[b + 1])
    ]
    accepted: list[int] = []
    for b in sorted(peaks, key=lambda p: -nov[p]):
        if b < min_step_clips or n - b < min_step_clips:
            continue
        if all(abs(b - a) >= min_step_clips for a in accepted):
            accepted.append(b)
    return np.asarray(sorted(accepted), dtype=np.int64)


def steps_from_boundaries(
    boundaries: np.ndarray, start_sec: np.ndarray, end_sec: np.ndarray
) -> tuple[Step, ...]:
    """Turn boundaries into steps with times taken from the clips' own times."""
    n = len(start_sec)
    edges = [0, *[int(b) for b in boundaries], n]
    steps = []
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        end_time = float(start_sec[b]) if b < n else float(end_sec[n - 1])
        steps.append(Step(k, a, b, float(start_sec[a]), end_time))
    return tuple(steps)
