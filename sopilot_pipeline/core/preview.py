"""Small PNG previews for the Dagster UI (Pillow only, no plotting library)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw


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


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that the Dagster UI shows as an inline picture."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
