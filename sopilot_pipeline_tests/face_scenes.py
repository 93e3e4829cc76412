"""Real face photographs moving through rendered procedure videos, with ground truth.

The faces are photographs, not drawings: scikit-image's astronaut (Eileen Collins) and
the 100 LFW faces its wheel ships (``skimage.data.lfw_subset``, 25x25 grey crops). Each
face walks across the scene at its own size, tilt and lighting, fading in at an oval
edge as a head does, so a detector is tried on what a camera in a workshop would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from sopilot_pipeline.core.base.atomic import atomic_write_with


def real_faces() -> list[np.ndarray]:
    """RGB face photographs: the astronaut first, then the LFW faces."""
    from skimage import data

    astronaut = data.astronaut()[50:175, 160:290]  # her face, forehead to chin
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return [np.ascontiguousarray(astronaut)] + [np.repeat(f[..., None], 3, axis=2) for f in lfw]


@dataclass(frozen=True)
class FaceWalk:
    """One face crossing the frame: from ``start`` to ``end`` (fractions of the frame)."""

    face: int
    size_px: int
    tilt_deg: float
    gain: float
    start: tuple[float, float]
    end: tuple[float, float]


def random_walks(rng: np.random.Generator, count: int, sizes: tuple[int, ...]) -> list[FaceWalk]:
    faces = len(real_faces())
    return [
        FaceWalk(
            face=int(rng.integers(faces)),
            size_px=int(rng.choice(sizes)),
            tilt_deg=float(rng.uniform(-25, 25)),
            gain=float(rng.uniform(0.6, 1.3)),
            start=(float(rng.uniform(0.15, 0.4)), float(rng.uniform(0.2, 0.8))),
            end=(float(rng.uniform(0.6, 0.85)), float(rng.uniform(0.2, 0.8))),
        )
        for _ in range(count)
    ]


def paste_face(img: np.ndarray, face: np.ndarray, walk: FaceWalk, u: float) -> np.ndarray:
    """Draws the face at fraction ``u`` of its walk; returns its box (x0, y0, x1, y1)."""
    h, w = img.shape[:2]
    size = walk.size_px
    cx = (walk.start[0] + (walk.end[0] - walk.start[0]) * u) * w
    cy = (walk.start[1] + (walk.end[1] - walk.start[1]) * u) * h
    pic = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    pic = np.clip(pic * walk.gain, 0, 255)
    alpha = np.zeros((size, size), np.float32)
    cv2.ellipse(alpha, (size // 2, size // 2), (size // 2 - 1, size // 2 - 1), 0, 0, 360, 1, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, size / 30))
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), walk.tilt_deg, 1.0)
    pic = cv2.warpAffine(pic, rot, (size, size), borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(alpha, rot, (size, size))
    x0, y0 = round(cx - size / 2), round(cy - size / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    x1, y1 = min(w, x0 + size), min(h, y0 + size)
    if x1 <= max(x0, 0) or y1 <= max(y0, 0):
        return np.array([0, 0, 0, 0])
    region = img[max(y0, 0) : y1, max(x0, 0) : x1].astype(np.float32)
    a = alpha[sy0 : sy0 + region.shape[0], sx0 : sx0 + region.shape[1], None]
    p = pic[sy0 : sy0 + region.shape[0], sx0 : sx0 + region.shape[1]]
    img[max(y0, 0) : y1, max(x0, 0) : x1] = (region * (1 - a) + p * a).round().astype(np.uint8)
    return np.array([max(x0, 0), max(y0, 0), x1, y1])


def add_faces(
    source: Path, target: Path, walks: list[FaceWalk], seconds_per_walk: float = 3.0
) -> list[tuple[float, np.ndarray]]:
    """``source`` with the walks played one after another (looping), written as H.264 to
    ``target``; the ground truth, (time, face box) per frame, is returned."""
    faces = real_faces()
    truth: list[tuple[float, np.ndarray]] = []

    def write(tmp: Path) -> None:
        with av.open(str(source)) as src, av.open(str(tmp), "w", format="mp4") as out:
            stream = src.streams.video[0]
            rate = stream.average_rate or Fraction(15)
            enc = out.add_stream("libx264", rate=rate)
            enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
            enc.options = {"preset": "veryfast", "crf": "20"}
            for n, frame in enumerate(src.decode(stream)):
                t = n / float(rate)
                k, u = divmod(t / seconds_per_walk, 1.0)
                walk = walks[int(k) % len(walks)]
                img = frame.to_ndarray(format="rgb24")
                box = paste_face(img, faces[walk.face], walk, u)
                truth.append((t, box))
                for p in enc.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
            for p in enc.encode():
                out.mux(p)

    atomic_write_with(target, write, keep_suffix=True)
    return truth


def all_frames(path: Path) -> list[tuple[float, np.ndarray]]:
    """Every frame of a video as (seconds, upright RGB at its own size)."""
    from sopilot_pipeline.core.video.decode import (
        first_frame,
        frames_from,
        open_video,
        upright_rgb,
        video_stream,
    )

    with open_video(Path(path)) as src:
        stream = video_stream(src)
        origin, turns = first_frame(src, stream)
        size = (stream.height, stream.width) if turns % 2 else (stream.width, stream.height)
        return [(t, upright_rgb(f, size, turns)) for t, f in frames_from(src, stream, origin, 0)]


def coverage(box: np.ndarray, masked: np.ndarray, shape: tuple[int, int]) -> float:
    """Share of the face box inside the union of the masked boxes."""
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        return 1.0
    canvas = np.zeros(shape, bool)
    for mx0, my0, mx1, my1 in np.asarray(masked, np.float64).reshape(-1, 4):
        rows = slice(max(0, int(my0)), max(0, int(np.ceil(my1))))
        canvas[rows, max(0, int(mx0)) : max(0, int(np.ceil(mx1)))] = True
    return float(canvas[y0:y1, x0:x1].mean())


class SecondDetector:
    """A stronger check than the masking detector: scikit-image's own LBP cascade (another
    model and implementation) plus OpenCV's cascades at a lower threshold, four tilts."""

    def __init__(self) -> None:
        import importlib.resources

        from skimage.feature import Cascade

        self._lbp = Cascade(
            str(importlib.resources.files("skimage.data") / "lbpcascade_frontalface_opencv.xml")
        )
        from sopilot_pipeline.core.video.face_mask import FaceDetector, FaceMaskConfig

        self._haar = FaceDetector(
            FaceMaskConfig(min_neighbors=1, tilts_deg=(15.0,), min_face_px=16, detect_width=640)
        )
        self._haar_wide = FaceDetector(
            FaceMaskConfig(min_neighbors=1, tilts_deg=(28.0,), min_face_px=16, detect_width=640)
        )

    def faces(self, rgb: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255
        found = [
            (d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"])
            for d in self._lbp.detect_multi_scale(gray, 1.2, 1, (16, 16), (400, 400))
        ]
        boxes = [np.asarray(found, np.float64).reshape(-1, 4)]
        boxes += [self._haar.detect(rgb), self._haar_wide.detect(rgb)]
        return np.concatenate(boxes)


def overlapping(found: np.ndarray, box: np.ndarray, least: float = 0.3) -> bool:
    """A detection matching the face box: intersection over union at least ``least``
    (0.5 is the usual match; a box three times the face's size around it is not one)."""
    x0, y0, x1, y1 = box
    area = max(1, (x1 - x0) * (y1 - y0))
    for fx0, fy0, fx1, fy1 in np.asarray(found).reshape(-1, 4):
        iw = min(x1, fx1) - max(x0, fx0)
        ih = min(y1, fy1) - max(y0, fy0)
        if iw <= 0 or ih <= 0:
            continue
        union = area + (fx1 - fx0) * (fy1 - fy0) - iw * ih
        if iw * ih / union >= least:
            return True
    return False
