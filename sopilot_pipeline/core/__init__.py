"""Pure algorithm library: numpy in, numpy or frozen dataclasses out. No Dagster here.

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
