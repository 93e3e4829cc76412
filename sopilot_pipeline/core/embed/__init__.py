"""Room 3 of the core. Clip embeddings: the heuristic CPU embedder, V-JEPA2, the per-
task feature adapter.
"""
