"""Privacy masking: faces found, tracked between detections and blurred or pixelated.

The detector is OpenCV's Haar cascades (the frontal and profile models its 4.x wheels
ship): offline, CPU-only, no weights to download. A frontal cascade misses a head tilted
by more than ~15 degrees, so each detection also runs on the frame turned by
``± tilts_deg``. Detection runs four times a second; the frames between two detections
are masked with the boxes of both; a face the detector loses is followed by its picture
(``FaceTracker``) and its last boxes are held, grown, for a few detections. Measured on
real face photographs: benchmarks/RESULTS.md (tuning seeds 4101-4103).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

MASK_MODES = ("none", "blur", "pixelate")


class FaceDetectorUnavailable(ValueError):
    """No face detector can be built here (OpenCV missing, or one without cascades)."""


@dataclass(frozen=True)
class FaceMaskConfig:
    mode: str = "blur"  # blur | pixelate
    detect_width: int = 640  # frames are scaled to this width to detect (480 loses 32 px)
    min_face_px: int = 20  # smallest face found, at ``detect_width``
    tilts_deg: tuple[float, ...] = (10.0, 20.0)  # extra passes on the frame turned by ± each
    profiles: bool = True  # also the profile cascade, both ways round
    min_neighbors: int = 2  # OpenCV's detection threshold: lower finds more (3: 0.73 -> 0.81)
    scale_factor: float = 1.1  # between the face sizes tried
    local_contrast: bool = True  # CLAHE instead of one histogram equalisation per frame
    detect_every_sec: float = 0.25  # between two detections
    hold_detections: int = 1  # a lost face stays masked this many detections more (3: the
    # same recall on seeds 4101-4105 with the tracker, and 0.70 of the frame masked, not 0.47)
    # each box grown by this share of its size on every side (at 0.3 a box found off-centre
    # on a tilted face left half of it bare: 0.947 -> 0.981 masked frames on seed 4103)
    margin: float = 0.5
    hold_growth: float = 0.25  # and by this much more per detection it is held
    track_detections: int = 8  # a lost face is followed by its picture this many detections
    track_min_correlation: float = 0.6  # how alike the picture must stay to be followed

    def __post_init__(self) -> None:
        if self.mode not in MASK_MODES[1:]:
            raise ValueError(f"mask mode must be blur or pixelate, got {self.mode!r}")
        if not (self.detect_every_sec > 0 and math.isfinite(self.detect_every_sec)):
            raise ValueError("detect_every_sec must be a positive number")


def _cascades(names: tuple[str, ...]) -> list:
    try:
        import cv2
    except ImportError as exc:
        raise FaceDetectorUnavailable(
            "privacy masking needs OpenCV 4.x (opencv-python-headless<5)"
        ) from exc
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise FaceDetectorUnavailable(
            f"OpenCV {cv2.__version__} has no Haar cascades (5.0 dropped them): "
            "install opencv-python-headless<5"
        )
    out = []
    for name in names:
        cascade = cv2.CascadeClassifier(f"{cv2.data.haarcascades}haarcascade_{name}.xml")
        if cascade.empty():
            raise FaceDetectorUnavailable(f"OpenCV's cascade {name!r} did not load")
        out.append(cascade)
    return out


def check_face_detector() -> None:
    """Raises ``FaceDetectorUnavailable`` unless every cascade loads: checked at start-up,
    so a missing detector stops the code location, not the first registration."""
    _cascades(FRONTAL + PROFILE)


FRONTAL = ("frontalface_default", "frontalface_alt2")
PROFILE = ("profileface",)


@dataclass
class FaceDetector:
    """Face boxes (x0, y0, x1, y1) in the pixels of the RGB frame it is given."""

    config: FaceMaskConfig = field(default_factory=FaceMaskConfig)

    def __post_init__(self) -> None:
        self._frontal = _cascades(FRONTAL)  # FaceDetectorUnavailable first, then OpenCV
        self._profile = _cascades(PROFILE) if self.config.profiles else []
        import cv2

        self._cv2 = cv2
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        cv2, cfg = self._cv2, self.config
        h, w = rgb.shape[:2]
        # a fixed working width, up or down: a face is found by its share of the frame, and
        # a 32-pixel face in a 320-wide video is missed at its own size
        scale = cfg.detect_width / max(w, 1)
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        # local contrast (CLAHE) gives a face in shadow its own contrast back: masked
        # frames 0.83 -> 0.999 on seed 4105, 0.94 -> 1.0 on 4104, against equalizeHist
        gray = self._clahe.apply(gray) if cfg.local_contrast else cv2.equalizeHist(gray)
        boxes: list[np.ndarray] = []
        angles = (0.0, *(a * sign for a in cfg.tilts_deg if a for sign in (-1, 1)))
        for angle in angles:
            turned, back = _turned(cv2, gray, angle)
            for cascade in self._frontal:
                boxes.append(_back(self._run(cascade, turned), back))
        for cascade in self._profile:
            boxes.append(self._run(cascade, gray))
            flipped = self._run(cascade, np.ascontiguousarray(gray[:, ::-1]))
            flipped[:, [0, 2]] = gray.shape[1] - flipped[:, [2, 0]]
            boxes.append(flipped)
        found = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        return np.round(found / scale).astype(np.int32)

    def _run(self, cascade, gray: np.ndarray) -> np.ndarray:
        cfg = self.config
        found = cascade.detectMultiScale(
            gray, cfg.scale_factor, cfg.min_neighbors, minSize=(cfg.min_face_px, cfg.min_face_px)
        )
        if len(found) == 0:
            return np.zeros((0, 4), np.float64)
        found = np.asarray(found, np.float64)
        return np.column_stack([found[:, :2], found[:, :2] + found[:, 2:]])


def _turned(cv2, gray: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The image turned by ``angle`` degrees on a canvas that holds all of it, and the
    affine map from the turned image back to the original (None when not turned)."""
    if not angle:
        return gray, None
    h, w = gray.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    new_w, new_h = int(h * sin + w * cos), int(h * cos + w * sin)
    rot[0, 2] += new_w / 2 - w / 2
    rot[1, 2] += new_h / 2 - h / 2
    turned = cv2.warpAffine(gray, rot, (new_w, new_h), borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(rot)


def _back(boxes: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    """Boxes found on a turned image, as the upright boxes that hold them in the original."""
    if back is None or not len(boxes):
        return boxes
    x0, y0, x1, y1 = boxes.T
    corners = np.stack(
        [np.stack([x0, y0]), np.stack([x1, y0]), np.stack([x0, y1]), np.stack([x1, y1])]
    )  # (4, 2, N)
    mapped = np.einsum("ij,cjn->cin", back[:, :2], corners) + back[:, 2][None, :, None]
    return np.column_stack(
        [mapped[:, 0].min(0), mapped[:, 1].min(0), mapped[:, 0].max(0), mapped[:, 1].max(0)]
    )


def grown(boxes: np.ndarray, share: float) -> np.ndarray:
    """Boxes grown by ``share`` of their width and height on every side."""
    if not len(boxes):
        return boxes.reshape(0, 4)
    boxes = np.asarray(boxes, np.float64)
    pad = (boxes[:, 2:] - boxes[:, :2]) * share
    return np.column_stack([boxes[:, :2] - pad, boxes[:, 2:] + pad])


def mask_regions(rgb: np.ndarray, boxes: np.ndarray, mode: str) -> np.ndarray:
    """A copy of the frame with every box blurred beyond recognition or pixelated into
    3 blocks across (at 4 or 5, a cascade at its lowest threshold found 2 faces in 20)."""
    import cv2

    out = rgb.copy()
    h, w = rgb.shape[:2]
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64):
        x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        x1, y1 = min(w, math.ceil(x1)), min(h, math.ceil(y1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = out[y0:y1, x0:x1]
        side = max(x1 - x0, y1 - y0)
        if mode == "pixelate":
            blocks = max(1, round(3 * (x1 - x0) / side)), max(1, round(3 * (y1 - y0) / side))
            small = cv2.resize(region, blocks, interpolation=cv2.INTER_AREA)
            blocky = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
            # the blocks' hard edges are what a cascade still fires on: soften them
            soft = max(1.0, side / 3 / 6)
            region[:] = cv2.GaussianBlur(blocky, (0, 0), sigmaX=soft, sigmaY=soft)
        else:  # a blur of sigma side/4, done on a 12-pixel copy (~100x cheaper); at
            # side/5 a cascade at its lowest threshold still found 2 blurred faces in 20
            small_w = max(2, round(12 * (x1 - x0) / side))
            small_h = max(2, round(12 * (y1 - y0) / side))
            small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), sigmaX=3.0, sigmaY=3.0)
            region[:] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def merged(boxes: np.ndarray, least_iou: float = 0.3) -> np.ndarray:
    """One box per face: boxes overlapping by ``least_iou`` or more are joined (each
    cascade and tilt finds the same face again)."""
    boxes = [list(b) for b in np.asarray(boxes, np.float64).reshape(-1, 4)]
    joined = True
    while joined and len(boxes) > 1:
        joined = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _iou(boxes[i], boxes[j]) >= least_iou:
                    a, b = boxes[i], boxes.pop(j)
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    joined = True
                    break
            if joined:
                break
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass
class _Track:
    box: np.ndarray  # (x0, y0, x1, y1) where the face was last seen
    template: np.ndarray  # grey pixels of the face when the detector last found it
    misses: int = 0  # detections since the detector last found it


class FaceTracker:
    """Follows a face the detector has lost: its last detected picture is looked for
    (normalised cross-correlation) around where it was, for up to ``track_detections``
    detections. A face missed for a moment at a tilt or in shadow stays masked where it
    went, not only where it was."""

    def __init__(self, config: FaceMaskConfig) -> None:
        import cv2

        self._cv2, self.config = cv2, config
        self.tracks: list[_Track] = []

    def update(self, rgb: np.ndarray, found: np.ndarray) -> np.ndarray:
        """The faces in this detection frame: ``found`` plus the tracked ones it missed."""
        cv2, cfg = self._cv2, self.config
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        found = merged(found)
        tracks = [_Track(b, _patch(gray, b)) for b in found]
        for track in self.tracks:
            if track.misses >= cfg.track_detections:
                continue
            if any(_iou(track.box, b) >= 0.2 for b in found):
                continue
            box = self._search(gray, track)
            if box is not None:
                tracks.append(_Track(box, track.template, track.misses + 1))
        self.tracks = [t for t in tracks if t.template.size]
        return np.asarray([t.box for t in tracks], np.float64).reshape(-1, 4)

    def _search(self, gray: np.ndarray, track: _Track) -> np.ndarray | None:
        cv2 = self._cv2
        th, tw = track.template.shape
        if th < 8 or tw < 8:
            return None
        x0, y0, x1, y1 = grown(track.box[None], 1.0)[0]
        h, w = gray.shape
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(w, int(math.ceil(x1))), min(h, int(math.ceil(y1)))
        window = gray[y0:y1, x0:x1]
        if window.shape[0] < th or window.shape[1] < tw:
            return None
        scores = cv2.matchTemplate(window, track.template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if best < self.config.track_min_correlation:
            return None
        return np.array([x0 + bx, y0 + by, x0 + bx + tw, y0 + by + th], np.float64)


def _patch(gray: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(math.ceil(box[2]))), min(h, int(math.ceil(box[3])))
    return np.ascontiguousarray(gray[y0:y1, x0:x1]) if x1 > x0 and y1 > y0 else np.zeros((0, 0))


@dataclass
class MaskStats:
    frames: int = 0
    frames_masked: int = 0  # frames with at least one box masked
    detections: int = 0  # frames the detector ran on
    faces_found: int = 0  # boxes over all detections
    detect_seconds: float = 0.0
    mask_seconds: float = 0.0


def masked_frames(
    frames: Iterable[tuple[float, np.ndarray]],
    detector: FaceDetector,
    stats: MaskStats | None = None,
) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """(time, masked frame, boxes masked) for each (time, RGB frame), in order.

    A frame between two detections is masked with the boxes of both (a moving face is
    inside one or the other, or between: the boxes are grown), plus the boxes held from
    up to ``hold_detections`` detections before; so at most one detection interval of
    frames is held back."""
    cfg = detector.config
    stats = stats if stats is not None else MaskStats()
    history: deque[np.ndarray] = deque(maxlen=cfg.hold_detections + 1)
    tracker = FaceTracker(cfg) if cfg.track_detections else None
    pending: list[tuple[float, np.ndarray]] = []
    next_detection = -math.inf

    def held() -> list[np.ndarray]:
        newest_first = list(reversed(history))
        return [grown(b, cfg.margin + cfg.hold_growth * age) for age, b in enumerate(newest_first)]

    def flush(cover: list[np.ndarray]) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
        boxes = np.concatenate(cover) if cover else np.zeros((0, 4))
        for t, frame in pending:
            started = time.perf_counter()
            out = mask_regions(frame, boxes, cfg.mode) if len(boxes) else frame
            stats.mask_seconds += time.perf_counter() - started
            stats.frames += 1
            stats.frames_masked += bool(len(boxes))
            yield t, out, boxes
        pending.clear()

    for t, frame in frames:
        if t >= next_detection:
            started = time.perf_counter()
            found = detector.detect(frame)
            if tracker is not None:
                found = tracker.update(frame, found)
            stats.detect_seconds += time.perf_counter() - started
            stats.detections += 1
            stats.faces_found += len(found)
            yield from flush([*held(), grown(found, cfg.margin)])
            history.append(found)
            next_detection = t + cfg.detect_every_sec
        pending.append((t, frame))
    yield from flush(held())
