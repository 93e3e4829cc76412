"""A second, independent renderer for evaluation: pick-and-place assembly procedures.

Written apart from ``demo.py`` (and not tuned against) so that accuracy is measured on
footage unlike what the algorithms were developed on. A hand starts from a rest pose,
reaches into one of a row of bins, carries a part to its slot on an assembly board,
presses it in and returns to rest: steps of 1.5-4 s that differ only in which bin and
which slot, and every placed part stays in view (cumulative state). Each video has its
own actor (sleeve and skin colours, rest pose, tempo) and camera (shift, zoom, a small
roll, white balance, vignette, lighting drift, sensor noise); a person walks past in
the background now and then. Drawn with Pillow at twice the size and downsampled
(anti-aliased edges), encoded with a choice of codecs, containers and frame rates.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.harness.demo import REPEATABLE_X264

PART_COLOURS = (
    (200, 40, 35),
    (35, 110, 200),
    (235, 190, 30),
    (40, 150, 70),
    (140, 60, 170),
    (230, 120, 30),
    (60, 60, 60),
    (210, 210, 215),
)
PART_SHAPES = ("peg", "nut", "plate", "ring")
SLEEVES = (
    (30, 60, 140),
    (150, 30, 40),
    (40, 40, 45),
    (60, 120, 60),
    (200, 200, 190),
    (120, 90, 60),
)
SKINS = ((224, 180, 150), (190, 140, 105), (140, 95, 70), (240, 205, 180), (110, 75, 55))
STEP_VERBS = ("fit", "seat", "mount", "insert", "place", "press")


@dataclass(frozen=True)
class Bin:
    x: float
    colour: tuple[int, int, int]
    shape: str


@dataclass(frozen=True)
class AssemblyStep:
    name: str
    bin: int
    slot: tuple[float, float]  # where the part goes on the board, (x, y) in [0, 1]
    duration_sec: float
    arc: float  # how high the carry path bows


@dataclass(frozen=True)
class AssemblyTask:
    task_id: str
    bins: tuple[Bin, ...]
    steps: tuple[AssemblyStep, ...]
    table: tuple[int, int, int]
    board: tuple[int, int, int]


@dataclass(frozen=True)
class Actor:
    sleeve: tuple[int, int, int]
    skin: tuple[int, int, int]
    rest: tuple[float, float]
    pause_sec: tuple[float, float]  # range of the rest pause after each step


@dataclass(frozen=True)
class Camera:
    shift: tuple[float, float] = (0.0, 0.0)  # pixels at output size
    zoom: float = 1.0
    roll_deg: float = 0.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    drift: float = 0.0  # relative brightness change over the video
    noise: float = 2.0
    passers: tuple[float, ...] = ()  # times (s) at which someone walks past behind


@dataclass(frozen=True)
class Performance:
    """What is done: (task step, speed factor) in order; step -1 is wiping the board (an
    unrelated action)."""

    plan: tuple[tuple[int, float], ...]
    deviations: tuple[dict, ...] = field(default_factory=tuple)


def make_assembly_task(task_id: str, num_steps: int, seed: int) -> AssemblyTask:
    """Bins along the back of the bench, slots on a board; alike steps by design: bins
    share colours or shapes, and slots sit close together."""
    rng = np.random.default_rng(seed)
    num_bins = max(num_steps, int(rng.integers(num_steps, num_steps + 3)))
    colours = rng.choice(len(PART_COLOURS), size=num_bins, replace=num_bins > len(PART_COLOURS))
    colours = [int(c) for c in colours]
    # about a third of the bins repeat a colour with another shape
    for k in range(1, num_bins):
        if rng.random() < 0.35:
            colours[k] = colours[int(rng.integers(0, k))]
    bins = tuple(
        Bin(
            x=0.08 + 0.84 * (k + 0.5) / num_bins,
            colour=PART_COLOURS[colours[k]],
            shape=PART_SHAPES[int(rng.integers(len(PART_SHAPES)))],
        )
        for k in range(num_bins)
    )
    used = rng.permutation(num_bins)[:num_steps]
    cols = int(math.ceil(math.sqrt(num_steps * 1.5)))
    rows = int(math.ceil(num_steps / cols))
    cells = rng.permutation(cols * rows)[:num_steps]
    steps = []
    for k in range(num_steps):
        cx, cy = cells[k] % cols, cells[k] // cols
        slot = (0.32 + 0.40 * (cx + 0.5) / cols, 0.50 + 0.28 * (cy + 0.5) / rows)
        b = int(used[k])
        steps.append(
            AssemblyStep(
                name=f"{STEP_VERBS[k % len(STEP_VERBS)]} part {k + 1} from bin {b + 1}",
                bin=b,
                slot=slot,
                duration_sec=float(rng.uniform(1.6, 3.6)),
                arc=float(rng.uniform(-0.12, 0.12)),
            )
        )
    table = tuple(int(c) for c in rng.integers(120, 175, size=3))
    board = tuple(int(c) for c in np.clip(np.array(table) - rng.integers(35, 60), 20, 255))
    return AssemblyTask(task_id, bins, tuple(steps), table, board)


def random_actor(rng: np.random.Generator) -> Actor:
    return Actor(
        sleeve=SLEEVES[int(rng.integers(len(SLEEVES)))],
        skin=SKINS[int(rng.integers(len(SKINS)))],
        rest=(float(rng.uniform(0.78, 0.9)), float(rng.uniform(0.86, 0.94))),
        pause_sec=(0.15, float(rng.uniform(0.3, 0.6))),
    )


def random_camera(rng: np.random.Generator, duration_sec: float, moved: bool) -> Camera:
    """The gold's camera is the reference; a trainee's is moved, zoomed and rolled."""
    passers = tuple(
        float(t) for t in np.sort(rng.uniform(0, duration_sec, size=int(rng.integers(1, 4))))
    )
    return Camera(
        shift=(float(rng.uniform(-7, 7)), float(rng.uniform(-5, 5))) if moved else (0.0, 0.0),
        zoom=float(rng.uniform(0.94, 1.08)) if moved else 1.0,
        roll_deg=float(rng.uniform(-2.5, 2.5)) if moved else 0.0,
        white_balance=tuple(float(g) for g in rng.uniform(0.9, 1.1, size=3)),
        drift=float(rng.uniform(-0.2, 0.2)),
        noise=float(rng.uniform(1.0, 4.0)),
        passers=passers,
    )


def _ease(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return 0.5 - 0.5 * math.cos(math.pi * u)


def _lerp(a: tuple[float, float], b: tuple[float, float], u: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)


BIN_Y = 0.2
PART_RADIUS = 0.034  # of the frame width


def _hand_at(
    step: AssemblyStep, task: AssemblyTask, actor: Actor, u: float
) -> tuple[tuple[float, float], bool]:
    """Hand position during a step at progress u in [0, 1], and whether it holds the part."""
    bin_pos = (task.bins[step.bin].x, BIN_Y)
    if u < 0.32:  # reach into the bin
        return _lerp(actor.rest, bin_pos, _ease(u / 0.32)), False
    if u < 0.42:  # grasp: a small dip into the bin
        dip = 0.02 * math.sin(math.pi * (u - 0.32) / 0.10)
        return (bin_pos[0], bin_pos[1] + dip), u > 0.37
    if u < 0.78:  # carry along a bowed path
        v = _ease((u - 0.42) / 0.36)
        x, y = _lerp(bin_pos, step.slot, v)
        return (x + step.arc * math.sin(math.pi * v), y - 0.05 * math.sin(math.pi * v)), True
    if u < 0.88:  # press the part in
        press = 0.012 * math.sin(2 * math.pi * (u - 0.78) / 0.05)
        return (step.slot[0], step.slot[1] + press), True
    return _lerp(step.slot, actor.rest, _ease((u - 0.88) / 0.12)), False


def _draw_part(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, r: float, colour) -> None:
    if shape == "peg":
        draw.rounded_rectangle([x - 0.45 * r, y - r, x + 0.45 * r, y + r], 0.3 * r, fill=colour)
    elif shape == "nut":
        pts = [(x + r * math.cos(a), y + r * math.sin(a)) for a in np.arange(6) * math.pi / 3]
        draw.polygon(pts, fill=colour)
        draw.ellipse([x - 0.35 * r, y - 0.35 * r, x + 0.35 * r, y + 0.35 * r], fill=(30, 30, 30))
    elif shape == "plate":
        draw.rectangle([x - 1.1 * r, y - 0.55 * r, x + 1.1 * r, y + 0.55 * r], fill=colour)
    else:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=max(2, int(0.4 * r)))


def _scene(task: AssemblyTask, w: int, h: int) -> Image.Image:
    """The bench without anything that moves: table grain, bins, the empty board."""
    rng = np.random.default_rng(zlib.crc32(task.task_id.encode()))
    grain = rng.normal(0, 6, size=(h, 1, 1)) + np.zeros((h, w, 1))
    base = np.clip(np.array(task.table, np.float32) + grain, 0, 255).astype(np.uint8)
    img = Image.fromarray(base)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, w, int(0.1 * h)], fill=(95, 100, 110))  # the wall behind
    r = PART_RADIUS * w
    for b in task.bins:
        x, y = b.x * w, BIN_Y * h
        draw.rectangle([x - 2.2 * r, y - 1.6 * r, x + 2.2 * r, y + 1.6 * r], fill=(70, 70, 78))
        for dx in (-1.0, 0.0, 1.0):  # the parts in the bin
            _draw_part(draw, b.shape, x + dx * 1.1 * r, y + 0.3 * r, 0.6 * r, b.colour)
    draw.rounded_rectangle([0.28 * w, 0.44 * h, 0.76 * w, 0.82 * h], 0.02 * w, fill=task.board)
    for s in task.steps:
        sx, sy = s.slot[0] * w, s.slot[1] * h
        draw.ellipse([sx - 0.7 * r, sy - 0.7 * r, sx + 0.7 * r, sy + 0.7 * r], outline=(40, 40, 40))
    return img


def _timeline(
    task: AssemblyTask, actor: Actor, performance: Performance, rng: np.random.Generator
) -> list[tuple[int, float, float, float]]:
    """(step, start, motion end, segment end) per planned step; each segment ends with
    the actor's rest pause."""
    out = []
    t = float(rng.uniform(0.3, 0.6))  # a moment at rest before the first step
    for step, factor in performance.plan:
        motion = (task.steps[step].duration_sec if step >= 0 else 2.6) * factor
        pause = float(rng.uniform(*actor.pause_sec))
        if factor > 1.5:  # a slow step is slow throughout, its rest at the end included
            pause *= factor
        out.append((step, t, t + motion, t + motion + pause))
        t += motion + pause
    return out


def _camera_affine(camera: Camera, w: int, h: int) -> tuple[float, ...] | None:
    """PIL affine data (output pixel -> bench pixel) of a camera moved by ``shift``,
    zoomed about the centre and rolled; None for the reference camera."""
    if camera.zoom == 1.0 and not camera.roll_deg and camera.shift == (0.0, 0.0):
        return None
    theta = math.radians(camera.roll_deg)
    cos, sin = math.cos(theta) / camera.zoom, math.sin(theta) / camera.zoom
    cx, cy = w / 2, h / 2
    ox, oy = cx + camera.shift[0], cy + camera.shift[1]
    return (cos, sin, cx - cos * ox - sin * oy, -sin, cos, cy + sin * ox - cos * oy)


def render_assembly(
    task: AssemblyTask,
    performance: Performance,
    actor: Actor,
    camera: Camera,
    path: Path,
    seed: int,
    fps: int = 24,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
) -> dict:
    """Write the performance to ``path``; returns the truth: per planned step its segment
    (from the hand leaving rest to the next step leaving rest) in seconds."""
    rng = np.random.default_rng(seed)
    timeline = _timeline(task, actor, performance, rng)
    total = timeline[-1][3] + 0.3 if timeline else 1.0
    shot = _Shot(task, actor, camera, timeline, total, size, rng)
    frames = (shot.frame(f / fps) for f in range(int(round(total * fps))))
    container = {"libx264": "mp4", "mpeg4": "avi", "libvpx-vp9": "webm"}.get(codec, "matroska")
    if path.suffix.lower() == ".mkv":
        container = "matroska"
    atomic_write_with(
        path, lambda tmp: _write(tmp, frames, fps, size, codec, container), keep_suffix=True
    )
    segments = []
    for i, (step, t0, _, t_end) in enumerate(timeline):
        start = 0.0 if i == 0 else t0
        end = total if i == len(timeline) - 1 else t_end
        segments.append({"gold_step": step, "start_sec": round(start, 4), "end_sec": round(end, 4)})
    return {"segments": segments, "duration_sec": total, "deviations": list(performance.deviations)}


class _Shot:
    """The performance as one camera films it: drawn at twice the size and downsampled
    (anti-aliased edges), then the camera's placement, vignette, colour and noise."""

    def __init__(
        self,
        task: AssemblyTask,
        actor: Actor,
        camera: Camera,
        timeline: list[tuple[int, float, float, float]],
        total: float,
        size: tuple[int, int],
        rng: np.random.Generator,
    ) -> None:
        self.task, self.actor, self.camera, self.timeline = task, actor, camera, timeline
        self.total, self.size, self.rng = total, size, rng
        w, h = size
        self.W, self.H = 2 * w, 2 * h
        self.scene = _scene(task, self.W, self.H)
        self.r = PART_RADIUS * self.W
        # (step, time its part is placed)
        self.placed_at = [(st, t0 + 0.84 * (t1 - t0)) for st, t0, t1, _ in timeline if st >= 0]
        yy, xx = np.mgrid[0:h, 0:w]
        vignette = 1.0 - 0.25 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
        self.vignette = vignette[..., None].astype(np.float32)
        self.wb = np.array(camera.white_balance, np.float32)
        self.affine = _camera_affine(camera, w, h)

    def frame(self, t: float) -> np.ndarray:
        img = self.scene.copy()
        draw = ImageDraw.Draw(img)
        self._draw_bench(draw, t)
        self._draw_hand(draw, *self._hand(t))
        w, h = self.size
        img = img.resize((w, h), Image.BOX)  # anti-aliased edges from the 2x drawing
        if self.affine is not None:
            img = img.transform(
                (w, h), Image.AFFINE, self.affine, Image.BILINEAR, fillcolor=self.task.table
            )
        x = np.asarray(img, np.float32) * self.vignette * self.wb
        x *= 1.0 + self.camera.drift * (t / self.total)
        x += self.rng.normal(0, self.camera.noise, x.shape).astype(np.float32)
        return np.clip(x, 0, 255).astype(np.uint8)

    def _draw_bench(self, draw: ImageDraw.ImageDraw, t: float) -> None:
        """Someone walking by behind the bench, and the parts placed by ``t``."""
        W, H, r = self.W, self.H, self.r
        for passer in self.camera.passers:
            u = (t - passer) / 3.0
            if 0 <= u <= 1:
                px = (-0.1 + 1.2 * u) * W
                draw.ellipse([px - 9, 4, px + 9, 22], fill=(170, 140, 120))
                draw.rectangle([px - 14, 22, px + 14, 0.1 * H], fill=(80, 90, 150))
        for step, when in self.placed_at:
            if t >= when:
                s = self.task.steps[step]
                b = self.task.bins[s.bin]
                _draw_part(draw, b.shape, s.slot[0] * W, s.slot[1] * H, 0.8 * r, b.colour)

    def _hand(self, t: float) -> tuple[tuple[float, float], bool, Bin | None]:
        """Where the hand is at ``t``, whether it holds a part, and from which bin."""
        for step, t0, t1, _ in self.timeline:
            if t0 <= t < t1:
                u = (t - t0) / (t1 - t0)
                if step >= 0:
                    hand, holding = _hand_at(self.task.steps[step], self.task, self.actor, u)
                    return hand, holding, self.task.bins[self.task.steps[step].bin]
                # wiping the board in circles
                a = 2 * math.pi * 2.5 * u
                centre = (0.52, 0.63)
                reach = _ease(min(1.0, u / 0.2)) * _ease(min(1.0, (1 - u) / 0.2))
                circle = (centre[0] + 0.1 * math.cos(a), centre[1] + 0.06 * math.sin(a))
                return _lerp(self.actor.rest, circle, reach), False, None
        return self.actor.rest, False, None

    def _draw_hand(
        self, draw: ImageDraw.ImageDraw, hand: tuple[float, float], holding: bool, part
    ) -> None:
        W, H, r, actor = self.W, self.H, self.r, self.actor
        hx, hy = hand[0] * W, hand[1] * H
        elbow = (0.5 * (hx + actor.rest[0] * W) + 0.12 * W, H * 1.02)
        draw.line([elbow, (hx, hy)], fill=actor.sleeve, width=int(1.4 * r))
        if holding and part is not None:
            _draw_part(draw, part.shape, hx, hy - 0.6 * r, 0.7 * r, part.colour)
        draw.ellipse([hx - 0.9 * r, hy - 0.8 * r, hx + 0.9 * r, hy + 0.8 * r], fill=actor.skin)


def _write(
    tmp: Path,
    frames: Iterable[np.ndarray],
    fps: int,
    size: tuple[int, int],
    codec: str,
    container: str,
) -> None:
    with av.open(str(tmp), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "24", **REPEATABLE_X264}
        elif codec == "mpeg4":
            stream.options = {"qscale": "4", "threads": "1"}
        else:
            stream.options = {"threads": "1"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
