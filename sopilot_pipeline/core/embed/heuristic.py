"""The fast heuristic CPU embedder.

A clip is ``clip_frames`` consecutive sampled frames, taken every ``clip_stride`` frames.
The heuristic embedder describes a clip by what is where (thumbnail, grid colour means),
what colours are present (joint RGB histogram), edge structure (orientation histograms
per quadrant), where things move (frame-difference energy on a coarse and a fine grid)
and where the foreground is (pixels unlike the video's own median frame, on a grid).
It is a cheap stand-in for V-JEPA2 that still separates the steps of a procedure.

The last two are what tell alike steps apart when another person does them before
another camera: where the hand goes does not depend on the colour of a sleeve, and a
pixel unlike the empty bench is foreground whatever its colour. On the tuning seed of
the assembly harness they raised the share of trainee clips whose nearest gold clip is
in the right step from 0.68 to 0.80.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sopilot_pipeline.core.embed.base import ClipEmbeddings, clip_windows
from sopilot_pipeline.core.video.decode import collect_frames


def _block_mean(x: np.ndarray, cells: int) -> np.ndarray:
    """Average (n, h, w, ...) over a cells x cells grid -> (n, cells, cells, ...)."""
    n, h, w = x.shape[:3]
    x = x[:, : h // cells * cells, : w // cells * cells]
    return x.reshape(n, cells, h // cells, cells, w // cells, *x.shape[3:]).mean(axis=(2, 4))


def _soft_histogram(values: np.ndarray, bins: int) -> np.ndarray:
    """Per-row histogram of values in [0, 1] with linear (soft) bin assignment, so noise
    near a bin edge moves weight smoothly instead of flipping whole pixels."""
    pos = values * (bins - 1)
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    hi = np.minimum(lo + 1, bins - 1)
    n = values.shape[0]
    offs = (np.arange(n) * bins)[:, None]
    out = np.bincount((lo + offs).ravel(), (1 - frac).ravel(), minlength=n * bins)
    out += np.bincount((hi + offs).ravel(), frac.ravel(), minlength=n * bins)
    return (out.reshape(n, bins) / values.shape[1]).astype(np.float32)


_EDGE_NOISE = 0.03


def normalise_lighting(frames: np.ndarray) -> np.ndarray:
    """Float frames divided by each frame's per-channel median (the scene's background,
    as a rule), so a lighting change or drift does not look like a change of content."""
    return _normalised(frames, _lighting_gain(frames))


def _lighting_gain(frames: np.ndarray) -> np.ndarray:
    """Per frame and channel, what ``normalise_lighting`` multiplies by, (n, 3)."""
    x = frames.astype(np.float32) * (1.0 / 255.0)
    ref = np.median(x.reshape(len(x), -1, 3), axis=1)
    return 0.5 / np.maximum(ref, 0.02)


def _normalised(frames: np.ndarray, gain: np.ndarray) -> np.ndarray:
    return (frames.astype(np.float32) * (1.0 / 255.0)) * gain[:, None, None, :]


def _frame_features(x: np.ndarray) -> np.ndarray:
    """Per-frame appearance features of lighting-normalised frames, (n, d) float32."""
    n = x.shape[0]
    x = np.clip(x, 0.0, 1.0)
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    thumb = _block_mean(gray, 8).reshape(n, -1)
    grid = _block_mean(x, 6).reshape(n, -1)
    small = _block_mean(x, 24).reshape(n, -1, 3)
    hist = np.concatenate([_soft_histogram(small[..., c], 8) for c in range(3)], axis=1)
    h, w = gray.shape[1:]
    gy, gx = np.gradient(gray, axis=(1, 2))
    mag = np.hypot(gx, gy)
    mag[mag < _EDGE_NOISE] = 0.0  # sensor noise is not structure
    ori = np.minimum(((np.arctan2(gy, gx) + np.pi) * (8 / (2 * np.pi))).astype(np.int64), 7)
    quads = []
    for rows in (slice(0, h // 2), slice(h // 2, h)):
        for cols in (slice(0, w // 2), slice(w // 2, w)):
            o = ori[:, rows, cols].reshape(n, -1) + (np.arange(n) * 8)[:, None]
            m = mag[:, rows, cols].reshape(n, -1)
            quads.append(np.bincount(o.ravel(), m.ravel(), minlength=n * 8).reshape(n, 8))
    edges = np.concatenate(quads, axis=1).astype(np.float32)
    edges /= 0.25 * h * w
    return np.concatenate([thumb, grid, hist, edges], axis=1).astype(np.float32)


_MOTION_NOISE = 0.08
_MOTION_DIM = 16 + 64
_FINE_CELLS = 8
_FINE_DIM = _FINE_CELLS * _FINE_CELLS
_FOREGROUND_DIFFERENCE = 0.12  # lighting-normalised units: unlike the median frame
_MIN_MOVING_SHARE = 0.005
_FOREGROUND_CONTRAST = 0.15
_APPEARANCE_DIM = 64 + 108 + 24 + 32


def _moved_pixels(x: np.ndarray) -> np.ndarray:
    """Which pixels changed between consecutive frames, (n-1, h, w) bool. A pixel counts
    only if no neighbour within one pixel explains it, so camera shake is not motion."""
    gray = x.mean(axis=3)
    prev, cur = gray[:-1], gray[1:]
    best = np.abs(cur - prev)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                shifted = np.roll(prev, (dy, dx), axis=(1, 2))
                np.minimum(best, np.abs(cur - shifted), out=best)
    return best > _MOTION_NOISE


def _motion_features(x: np.ndarray) -> np.ndarray:
    """Per consecutive pair of frames: where things move (share of moved pixels per 4x4
    cell) and what colour the moving things are (joint RGB histogram), (n-1, 16 + 64)."""
    moved = _moved_pixels(x)
    n = len(moved)
    where = _block_mean(moved.astype(np.float32), 4).reshape(n, -1)
    cur = np.clip(x[1:], 0.0, 1.0).reshape(n, -1, 3)
    # only moving pixels that are not background (lighting-normalised background sits
    # near 0.5 in every channel), so the colour is that of the moving thing itself
    foreground = np.abs(cur - 0.5).max(axis=2) > _FOREGROUND_CONTRAST
    weights = (moved.reshape(n, -1) & foreground).astype(np.float32)
    # joint colour bins (4 levels per channel): red and black differ in one channel only,
    # which per-channel histograms shared with everything else blur
    levels = np.minimum((cur * 4).astype(np.int64), 3)
    code = levels[..., 0] * 16 + levels[..., 1] * 4 + levels[..., 2]
    offs = (np.arange(n) * 64)[:, None]
    colour_hist = np.bincount((code + offs).ravel(), weights.ravel(), minlength=n * 64)
    colour_hist = colour_hist.reshape(n, 64)
    # a distribution over colours once enough moves; a few flickering pixels stay faint
    colour_hist /= np.maximum(
        weights.sum(axis=1, keepdims=True), _MIN_MOVING_SHARE * weights.shape[1]
    )
    return np.concatenate([where, colour_hist.astype(np.float32)], axis=1)


def _fine_motion(x: np.ndarray) -> np.ndarray:
    """Share of moved pixels per cell of a fine grid, per consecutive pair of frames."""
    moved = _moved_pixels(x)
    return _block_mean(moved.astype(np.float32), _FINE_CELLS).reshape(len(moved), -1)


def _foreground(x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Share of pixels unlike the video's median frame (the bench as it mostly is) per
    cell of a fine grid, per frame: where the actor and the changed things are."""
    unlike = np.abs(x - background).max(axis=3) > _FOREGROUND_DIFFERENCE
    return _block_mean(unlike.astype(np.float32), _FINE_CELLS).reshape(len(x), -1)


def _median_frame(frames: np.ndarray, gain: np.ndarray, rows: int) -> np.ndarray:
    """The median over time of the lighting-normalised frames, a band of ``rows`` image
    rows at a time: the same values as the median of the whole video in float, in a
    fraction of the memory (each pixel's median is its own)."""
    h = frames.shape[1]
    return np.concatenate(
        [
            np.median(_normalised(frames[:, top : top + rows], gain), axis=0)
            for top in range(0, h, rows)
        ],
        axis=0,
    )


@dataclass(frozen=True)
class HeuristicEmbedder:
    """Hand-made appearance + motion features; fast on CPU, no model weights."""

    clip_frames: int = 4
    clip_stride: int = 2
    frame_size: tuple[int, int] = (96, 96)
    name: str = "heuristic-v5"
    # frames whose float features are worked out at once: memory stays that of the
    # sampled uint8 frames plus one chunk (~0.7 MB a frame), however long the video
    chunk_frames: int = 128

    def frame_size_for(self, width: int, height: int) -> tuple[int, int]:
        return self.frame_size  # a fixed grid: the aspect ratio does not matter here

    @property
    def feature_groups(self) -> tuple[tuple[int, float], ...]:
        """(size, weight) of appearance, where-it-moves, colour-of-what-moves, where it
        moves on the fine grid, and where the foreground is."""
        return ((_APPEARANCE_DIM, 1.0), (16, 1.0), (64, 1.0), (_FINE_DIM, 1.0), (_FINE_DIM, 1.0))

    @property
    def dim(self) -> int:
        return sum(size for size, _ in self.feature_groups)

    @property
    def where_groups(self) -> tuple[int, ...]:
        """Groups that say where the hand goes, whatever its colour (fine motion and
        foreground grids): what tells alike steps apart in a procedure done from a
        rest pose, and what survives another person and another camera."""
        return (3, 4)

    @property
    def moving_share_group(self) -> int:
        """Where it moves on the coarse grid: its cells are equal parts of the frame, each
        the share of its pixels that moved."""
        return 1

    def describe(self) -> dict[str, str | int]:
        return {"name": self.name}

    def frame_features(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame appearance and foreground features, (n, d), and per consecutive
        pair motion features, (n - 1, d'), worked out ``chunk_frames`` at a time (pairs
        overlap chunks by a frame); every value is as if done over the whole video."""
        n = len(frames)
        gain = np.concatenate(
            [
                _lighting_gain(frames[a : a + self.chunk_frames])
                for a in range(0, n, self.chunk_frames)
            ]
        )
        background = _median_frame(frames, gain, rows=max(1, frames.shape[1] // 24))
        feats, motion = [], []
        for a in range(0, n, self.chunk_frames):
            b = min(a + self.chunk_frames, n)
            x = _normalised(frames[a:b], gain[a:b])
            feats.append(np.concatenate([_frame_features(x), _foreground(x, background)], axis=1))
            # pairs ending in this chunk: the previous chunk's last frame starts the first
            pairs = _normalised(frames[max(a - 1, 0) : b], gain[max(a - 1, 0) : b])
            if len(pairs) > 1:
                motion.append(
                    np.concatenate([_motion_features(pairs), _fine_motion(pairs)], axis=1)
                )
        if not motion:
            motion = [np.zeros((0, _MOTION_DIM + _FINE_DIM), np.float32)]
        return np.concatenate(feats), np.concatenate(motion)

    def embed_frames(
        self, frames: Iterable[tuple[float, np.ndarray]], fps: float
    ) -> ClipEmbeddings:
        """The whole video is needed (its median frame is the background), so the
        stream is collected first: 27 KB a frame, 0.4 GB for 60 minutes at 4 fps."""
        pixels, times = collect_frames(frames)
        return self.embed(pixels, times, fps)

    def embed(self, frames: np.ndarray, times: np.ndarray, fps: float) -> ClipEmbeddings:
        n = len(frames)
        windows = clip_windows(n, self.clip_frames, self.clip_stride)
        if not windows:
            raise ValueError("no frames to embed")
        feats, motion = self.frame_features(frames)
        frame_dt = 1.0 / fps if fps > 0 else 0.25
        vectors, starts, ends = [], [], []
        for s, e in windows:
            mov = (
                motion[s : e - 1].mean(axis=0)
                if e - s > 1
                else np.zeros(_MOTION_DIM + _FINE_DIM, np.float32)
            )
            frame = feats[s:e].mean(axis=0)
            # order: appearance, coarse motion + moving colour, fine motion, foreground
            vectors.append(
                np.concatenate(
                    [
                        frame[:_APPEARANCE_DIM],
                        mov[:_MOTION_DIM],
                        mov[_MOTION_DIM:],
                        frame[_APPEARANCE_DIM:],
                    ]
                )
            )
            starts.append(times[s])
            ends.append(times[e - 1] + frame_dt)
        return ClipEmbeddings(
            vectors=np.asarray(vectors, dtype=np.float32),
            start_sec=np.asarray(starts, dtype=np.float64),
            end_sec=np.asarray(ends, dtype=np.float64),
            embedder=self.name,
        )
