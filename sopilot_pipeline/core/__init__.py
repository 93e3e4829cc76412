"""The algorithms, without Dagster: numpy in, numpy or frozen dataclasses out.

Computation is pure; what touches files says so and stays in its rooms: ``base``
(atomic writes, hashes), ``watch`` (scans), ``video`` (decodes, writes the masked
copy), ``embed`` (loads model weights), ``outputs`` (report, clips), ``store`` (the
data folder) and ``harness`` (renders).

The core is in rooms, in the order a video goes through the pipeline (``ROOMS``): base,
watch, video, embed, align, segment, scoring, outputs, store, harness. A module imports
only from its own room and the rooms before it (``test_boundaries.py`` checks it), so a
room can be read, tested and replaced without the ones after it.
"""

ROOMS: tuple[str, ...] = (
    "base",
    "watch",
    "video",
    "embed",
    "align",
    "segment",
    "scoring",
    "outputs",
    "store",
    "harness",
)
"""The rooms of the core, lowest first: each may import only itself and the ones before."""
