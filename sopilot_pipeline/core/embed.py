"""Clip embeddings: the fast heuristic CPU embedder and the shared clip layout.

A clip is ``clip_frames`` consecutive sampled frames, taken every ``clip_stride`` frames.
The heuristic embedder describes a clip by what is where (thumbnail, grid colour means),
what colours are present (joint RGB histogram), edge structure (orientation histograms
per quadrant) and where things move (frame-difference energy per grid cell). It is a
cheap stand-in for V-JEPA2 that still separates the steps of a procedure.
"""

from __future__ import annotations

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
    name: str
    frame_size: tuple[int, int]

    def embed(self, frames: np.ndarray, times: np.ndarray, fps: float) -> ClipEmbeddings: ...


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


def _frame_features(frames: np.ndarray) -> np.ndarray:
    """Per-frame appearance features, (n, d) float32."""
    x = frames.astype(np.float32) * (1.0 / 255.0)
    n = x.shape[0]
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


_MOTION_NOISE = 0.04


def _motion_grid(frames: np.ndarray) -> np.ndarray:
    """Share of pixels that changed (beyond sensor noise) per 4x4 cell, for each
    consecutive pair of sampled frames, (n-1, 16)."""
    gray = frames.astype(np.float32).mean(axis=3) * (1.0 / 255.0)
    moved = (np.abs(np.diff(gray, axis=0)) > _MOTION_NOISE).astype(np.float32)
    return _block_mean(moved, 4).reshape(len(moved), -1)


@dataclass(frozen=True)
class HeuristicEmbedder:
    """Hand-made appearance + motion features; fast on CPU, no model weights."""

    clip_frames: int = 4
    clip_stride: int = 2
    frame_size: tuple[int, int] = (96, 96)
    name: str = "heuristic-v2"

    def embed(self, frames: np.ndarray, times: np.ndarray, fps: float) -> ClipEmbeddings:
        n = len(frames)
        windows = clip_windows(n, self.clip_frames, self.clip_stride)
        if not windows:
            raise ValueError("no frames to embed")
        feats = _frame_features(frames)
        motion = _motion_grid(frames) if n > 1 else np.zeros((0, 16), np.float32)
        frame_dt = 1.0 / fps if fps > 0 else 0.25
        vectors, starts, ends = [], [], []
        for s, e in windows:
            mov = motion[s : e - 1].mean(axis=0) if e - s > 1 else np.zeros(16, np.float32)
            vectors.append(np.concatenate([feats[s:e].mean(axis=0), mov]))
            starts.append(times[s])
            ends.append(times[e - 1] + frame_dt)
        return ClipEmbeddings(
            vectors=np.asarray(vectors, dtype=np.float32),
            start_sec=np.asarray(starts, dtype=np.float64),
            end_sec=np.asarray(ends, dtype=np.float64),
            embedder=self.name,
        )
