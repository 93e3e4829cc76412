"""Small PNG previews for the Dagster UI (Pillow only, no plotting library)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

from sopilot_pipeline.core.align.dtw import cosine_cost


def alignment_png(cost: np.ndarray, path: np.ndarray, max_side: int = 240) -> bytes:
    """The gold x trainee cost matrix (dark = similar) with the alignment path in red."""
    m, n = cost.shape
    scale = min(1.0, max_side / max(m, n))
    w, h = max(1, round(n * scale)), max(1, round(m * scale))
    c = np.nan_to_num(cost.astype(np.float32), nan=1.0)
    lo, hi = np.percentile(c, 2), np.percentile(c, 98)
    grey = np.clip((c - lo) / max(hi - lo, 1e-6), 0, 1)
    image = Image.fromarray((grey * 255).astype(np.uint8), "L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(image)
    points = [((j + 0.5) * scale, (i + 0.5) * scale) for i, j in path]
    if len(points) > 1:
        draw.line(points, fill=(220, 30, 30), width=2)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def alignment_preview_png(
    gold: np.ndarray, trainee: np.ndarray, path: np.ndarray, max_side: int = 240
) -> bytes:
    """``alignment_png`` of two videos' clip vectors, from every k-th clip of each
    (k: twice the picture's resolution at most), so a preview of two hour-long videos
    does not build their full cost matrix (7,000 x 7,000 clips: 0.2 GB, and its copies)."""
    step = max(1, max(len(gold), len(trainee)) // (2 * max_side))
    cost = cosine_cost(gold[::step], trainee[::step])
    return alignment_png(cost, np.asarray(path) // step, max_side)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that the Dagster UI shows as an inline picture."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


STEP_COLOURS = [(31, 119, 180), (44, 160, 44), (23, 190, 207), (188, 189, 34), (227, 119, 194)]
DEVIATION_COLOURS = {
    "missing_step": (214, 39, 40),
    "swapped_step": (148, 103, 189),
    "over_time": (255, 127, 14),
    "extra_step": (140, 86, 75),
    "temporal_warp": (127, 127, 127),
}


def _tick_step(span: float) -> float:
    """A round tick spacing giving at most ~8 ticks over ``span`` seconds."""
    return next((t for t in (1, 2, 5, 10, 15, 30, 60, 120, 300) if span / t <= 8), 600)


def timeline_png(
    gold_steps: list[tuple[int, float, float]],
    trainee_steps: list[tuple[int, float, float]],
    deviations: list[tuple[str, float, float, bool]],
    width: int = 480,
) -> bytes:
    """Gold steps (top row) against the trainee's (bottom row), labelled, on a time axis
    in seconds; deviations as coloured marks under the row they belong to, with a legend
    of the kinds shown. Steps are (index, start, end) in seconds; deviations (type,
    start, end, on_trainee_row)."""
    left, right = 56, 10
    ends = [e for _, _, e in gold_steps + trainee_steps] + [e for _, _, e, _ in deviations]
    span = max(ends + [1e-6])
    scale = (width - left - right) / span
    image = Image.new("RGB", (width, 104), "white")
    draw = ImageDraw.Draw(image)
    rows = {False: 8, True: 38}
    for row, label in ((False, "gold"), (True, "trainee")):
        draw.text((4, rows[row] + 4), label, fill=(60, 60, 60))
    for row, steps in ((False, gold_steps), (True, trainee_steps)):
        for index, start, end in steps:
            x0, x1 = left + start * scale, left + max(end * scale, start * scale + 1)
            colour = STEP_COLOURS[index % len(STEP_COLOURS)]
            draw.rectangle([x0, rows[row], x1, rows[row] + 18], fill=colour, outline="white")
            draw.text((x0 + 2, rows[row] + 3), str(index + 1), fill="white")
    for kind, start, end, on_trainee in deviations:
        y = rows[on_trainee] + 20
        draw.rectangle(
            [left + start * scale, y, left + max(end, start) * scale + 2, y + 4],
            fill=DEVIATION_COLOURS.get(kind, (0, 0, 0)),
        )
    axis = 64
    draw.line([left, axis, width - right, axis], fill=(120, 120, 120))
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        x = left + tick * scale
        draw.line([x, axis, x, axis + 3], fill=(120, 120, 120))
        draw.text((x - 4, axis + 4), f"{tick:g}", fill=(90, 90, 90))
        tick += step
    draw.text((4, axis + 4), "time (s)", fill=(90, 90, 90))
    x = left
    for kind in dict.fromkeys(k for k, _, _, _ in deviations):
        draw.rectangle([x, 88, x + 8, 96], fill=DEVIATION_COLOURS.get(kind, (0, 0, 0)))
        draw.text((x + 11, 87), kind.replace("_", " "), fill=(60, 60, 60))
        x += 16 + 6 * len(kind)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
