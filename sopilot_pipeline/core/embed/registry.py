"""Embedders by the name their embeddings are stored under.

Stored embeddings carry only their embedder's name; what the adapter and step
detection need to know of that embedder (its feature groups, which of them say where
the motion goes) is looked up here.
"""

from __future__ import annotations

import numpy as np

from sopilot_pipeline.core.embed.base import ClipEmbedder
from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder

GROUPED: tuple[ClipEmbedder, ...] = (HeuristicEmbedder(),)
"""Embedders whose features come in weighted groups; any other has one homogeneous group."""


def _named(embedder: str) -> ClipEmbedder | None:
    return next((e for e in GROUPED if e.name == embedder), None)


def feature_groups(embedder: str) -> tuple[tuple[int, float], ...] | None:
    """Feature groups of a named embedder (None: one homogeneous group)."""
    known = _named(embedder)
    return known.feature_groups if known is not None else None


def where_dimensions(embedder: str) -> np.ndarray | None:
    """Boolean mask of the dimensions in a named embedder's where-the-motion-goes groups
    (None: the embedder has no such groups)."""
    known = _named(embedder)
    if known is None or not known.feature_groups or not known.where_groups:
        return None
    sizes = [size for size, _ in known.feature_groups]
    mask = np.zeros(sum(sizes), dtype=bool)
    edges = np.cumsum([0, *sizes])
    for g in known.where_groups:
        mask[edges[g] : edges[g + 1]] = True
    return mask


def moving_share(embedder: str, vectors: np.ndarray) -> np.ndarray | None:
    """Per clip, the share of the frame that moves, from a named embedder's raw vectors
    (None: the embedder does not measure it)."""
    known = _named(embedder)
    if known is None or known.moving_share_group is None or not known.feature_groups:
        return None
    group = known.moving_share_group
    edges = np.cumsum([0, *(size for size, _ in known.feature_groups)])
    return np.asarray(vectors, dtype=np.float64)[:, edges[group] : edges[group + 1]].mean(axis=1)


def stored_dim(embedder: str, details: dict) -> int | None:
    """Vector length of embeddings stored under ``embedder`` with these details (the
    embedder's ``describe()``): a known embedder's own, else a model's hidden size."""
    known = _named(embedder)
    if known is not None:
        return known.dim
    size = details.get("hidden_size")
    return int(size) if size is not None else None
