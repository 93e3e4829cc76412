"""Rendered procedure videos with exact ground truth, for demos, tests and benchmarks.

A task is a workbench scene and a sequence of steps; in each step a hand carries a
coloured part along its own path and leaves it in place, so the scene accumulates
state like a real assembly. Trainee variants drop, swap or slow steps, add an
unrelated action, or stop early; every variant records what was injected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sopilot_pipeline.core.base.atomic import atomic_write_with

_PALETTE = np.array(
    [
        (220, 40, 40),
        (40, 170, 60),
        (40, 80, 220),
        (240, 200, 30),
        (170, 60, 200),
        (30, 200, 210),
        (250, 130, 20),
        (120, 70, 30),
        (240, 240, 240),
        (20, 20, 20),
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class StepSpec:
    color: tuple[int, int, int]
    shape: str  # "box" | "disc" | "bar"
    start: tuple[float, float]  # (x, y) in [0, 1]
    end: tuple[float, float]
    wiggle: float  # amplitude of the carried path's arc
    duration_sec: float


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    background: tuple[int, int, int]
    steps: tuple[StepSpec, ...]


@dataclass(frozen=True)
class Variant:
    """What a trainee does: gold steps in order, each with a speed factor."""

    name: str
    plan: tuple[tuple[int, float], ...]  # (gold step, time factor); step -1 = unrelated action
    injected: dict = field(default_factory=dict)


def make_task(task_id: str, num_steps: int, seed: int, step_sec: float = 3.0) -> TaskSpec:
    rng = np.random.default_rng(seed)
    colors = rng.permutation(len(_PALETTE))[:num_steps]
    steps = []
    for k in range(num_steps):
        start = (float(rng.uniform(0.08, 0.3)), float(rng.uniform(0.15, 0.85)))
        end = (float(rng.uniform(0.45, 0.92)), float(rng.uniform(0.15, 0.85)))
        if k % 2:
            start, end = (1 - start[0], start[1]), (1 - end[0], end[1])
        steps.append(
            StepSpec(
                color=tuple(int(c) for c in _PALETTE[colors[k]]),
                shape=("box", "disc", "bar")[int(rng.integers(3))],
                start=start,
                end=end,
                wiggle=float(rng.uniform(-0.25, 0.25)),
                duration_sec=float(step_sec * rng.uniform(0.8, 1.3)),
            )
        )
    bg = tuple(int(c) for c in rng.integers(90, 160, size=3))
    return TaskSpec(task_id=task_id, background=bg, steps=tuple(steps))


def _draw(img: np.ndarray, shape: str, cx: float, cy: float, r: float, color) -> None:
    h, w, _ = img.shape
    x0, x1 = int(max(0, cx - 2 * r)), int(min(w, cx + 2 * r + 1))
    y0, y1 = int(max(0, cy - 2 * r)), int(min(h, cy + 2 * r + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    if shape == "disc":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    elif shape == "bar":
        mask = (np.abs(xx - cx) <= 1.8 * r) & (np.abs(yy - cy) <= 0.45 * r)
    else:
        mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    img[y0:y1, x0:x1][mask] = color


_UNRELATED = StepSpec((255, 0, 255), "disc", (0.5, 0.1), (0.5, 0.9), 0.6, 3.0)
_HAND = (225, 185, 150)


def render_variant(
    task: TaskSpec,
    variant: Variant,
    path: Path,
    fps: int = 15,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    jitter_px: float = 0.0,
    noise: float = 0.0,
    brightness_drift: float = 0.0,
    light_change: tuple[float, float] | None = None,
    offset_px: tuple[int, int] = (0, 0),
    display_rotation: int = 0,
) -> dict:
    """Write an H.264 MP4 of ``variant`` and return its ground truth (step times).

    Nuisances a real camera adds: per-frame shake (``jitter_px``), sensor noise, a slow
    brightness drift, a sudden lighting change ``(at_sec, gain)`` and a camera placed
    slightly differently (``offset_px``, whole-image shift). ``display_rotation`` (a
    multiple of 90) stores the picture turned the other way and says in the display
    matrix how to turn it upright, as a phone held sideways does.
    """
    segments = []
    for step_index, factor in variant.plan:
        spec = task.steps[step_index] if step_index >= 0 else _UNRELATED
        segments.append((step_index, spec, spec.duration_sec * factor))
    total = sum(d for _, _, d in segments)
    n_frames = max(1, int(round(total * fps)))
    camera = _Nuisance(
        np.random.default_rng(seed), jitter_px, noise, brightness_drift, light_change, offset_px
    )
    frames = (
        camera.apply(img, f / fps, total)
        for f, img in enumerate(_performed(task, segments, n_frames, fps, size))
    )
    atomic_write_with(
        path, lambda tmp: _write_mp4(tmp, frames, fps, size, display_rotation), keep_suffix=True
    )
    truth, t0 = [], 0.0
    for step_index, _, dur in segments:
        truth.append({"gold_step": step_index, "start_sec": t0, "end_sec": t0 + dur})
        t0 += dur
    return {"segments": truth, "duration_sec": total, **variant.injected}


def _performed(
    task: TaskSpec,
    segments: list[tuple[int, StepSpec, float]],
    n_frames: int,
    fps: int,
    size: tuple[int, int],
) -> Iterator[np.ndarray]:
    """The bench as the procedure goes: parts placed so far, the part in hand."""
    w, h = size
    base = np.empty((h, w, 3), np.uint8)
    base[:] = task.background
    base[int(h * 0.82) :, :] = (70, 60, 50)  # bench edge
    for k in range(0, w, 40):  # fixed clutter so the scene has texture
        base[int(h * 0.86) : int(h * 0.9), k : k + 12] = (110, 100, 90)
    placed: list[tuple[StepSpec, float, float]] = []
    r = 0.06 * h
    seg_i, seg_t0 = 0, 0.0
    for f in range(n_frames):
        t = f / fps
        while seg_i < len(segments) - 1 and t >= seg_t0 + segments[seg_i][2]:
            step_index, spec, dur = segments[seg_i]
            if step_index >= 0:
                placed.append((spec, spec.end[0], spec.end[1]))
            seg_t0 += dur
            seg_i += 1
        _, spec, dur = segments[seg_i]
        img = base.copy()
        for pspec, px, py in placed:
            _draw(img, pspec.shape, px * w, py * h, r, pspec.color)
        x, y = _in_hand(spec, min(1.0, (t - seg_t0) / dur), t - seg_t0)
        _draw(img, spec.shape, x * w, y * h, r, spec.color)
        _draw(img, "disc", x * w + 0.8 * r, y * h - 0.8 * r, 0.7 * r, _HAND)
        yield img


def _in_hand(spec: StepSpec, u: float, elapsed: float) -> tuple[float, float]:
    """Where the part is at ``u`` of its step: carried from the tray to its station,
    then worked there."""
    ease = 0.5 - 0.5 * np.cos(np.pi * min(1.0, u / 0.2))
    x = spec.start[0] + (spec.end[0] - spec.start[0]) * ease
    y = spec.start[1] + (spec.end[1] - spec.start[1]) * ease
    if u > 0.2:
        phase = 2 * np.pi * elapsed * 1.2
        x += 0.035 * np.sin(phase) * (1 if spec.wiggle > 0 else 0.4)
        y += 0.035 * np.cos(phase) * (1 if spec.wiggle <= 0 else 0.4)
    return x, y


@dataclass(frozen=True)
class _Nuisance:
    """What the camera adds to a frame: shake, placement, drift, a light change, noise."""

    rng: np.random.Generator
    jitter_px: float
    noise: float
    brightness_drift: float
    light_change: tuple[float, float] | None
    offset_px: tuple[int, int]

    def apply(self, img: np.ndarray, t: float, total: float) -> np.ndarray:
        dx, dy = self.offset_px
        if self.jitter_px:
            jx, jy = self.rng.normal(0, self.jitter_px, 2).round().astype(int)
            dx, dy = dx + jx, dy + jy
        if dx or dy:
            img = np.roll(img, (dy, dx), axis=(0, 1))
        lit = self.light_change is not None and t >= self.light_change[0]
        if self.brightness_drift or self.noise or lit:
            gain = 1.0 + self.brightness_drift * (t / max(total, 1e-6))
            if lit:
                gain *= self.light_change[1]
            noisy = img.astype(np.float32) * gain
            if self.noise:
                noisy += self.rng.normal(0, self.noise, img.shape)
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        return img


REPEATABLE_X264 = {"threads": "1", "tune": "zerolatency"}
"""x264 options that make a render byte-identical from run to run. With its lookahead
thread x264 encoded the same frames differently under load (decoded pixels up to 69
levels apart), so a harness run could not be repeated exactly; one thread and no
lookahead can (six renders under load, one file)."""


def _write_mp4(
    tmp: Path, frames: Iterable[np.ndarray], fps: int, size: tuple[int, int], rotation: int
) -> None:
    """H.264 of upright ``frames``, stored turned by ``rotation`` with the display matrix
    saying how to turn them back."""
    w, h = size
    with av.open(str(tmp), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        turns = (rotation // 90) % 4
        stored_w, stored_h = (h, w) if turns % 2 else (w, h)
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, "yuv420p"
        if turns:
            stream.set_display_rotation(rotation)
        stream.options = {"preset": "veryfast", "crf": "23", **REPEATABLE_X264}
        for img in frames:
            if turns:
                img = np.ascontiguousarray(np.rot90(img, -turns))
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def standard_variants(task: TaskSpec, seed: int) -> list[Variant]:
    """Clean repeats plus one missing, one swapped and one slow trainee."""
    rng = np.random.default_rng(seed)
    k = len(task.steps)

    def speeds() -> list[float]:
        return [float(rng.uniform(0.9, 1.1)) for _ in range(k)]

    miss = int(rng.integers(1, k - 1))
    swap = int(rng.integers(0, k - 1))
    slow = int(rng.integers(0, k))
    clean1, clean2 = speeds(), speeds()
    sp = speeds()
    plan_swap = list(range(k))
    plan_swap[swap], plan_swap[swap + 1] = plan_swap[swap + 1], plan_swap[swap]
    sp_slow = speeds()
    sp_slow[slow] = 2.0
    return [
        Variant("clean_1", tuple(zip(range(k), clean1, strict=True)), {"deviations": []}),
        Variant("clean_2", tuple(zip(range(k), clean2, strict=True)), {"deviations": []}),
        Variant(
            f"missing_step_{miss + 1}",
            tuple((s, sp[s]) for s in range(k) if s != miss),
            {"deviations": [{"type": "missing_step", "gold_step": miss}]},
        ),
        Variant(
            f"swapped_steps_{swap + 1}_{swap + 2}",
            tuple((s, sp[s]) for s in plan_swap),
            {"deviations": [{"type": "swapped_step", "gold_step": swap}]},
        ),
        Variant(
            f"slow_step_{slow + 1}",
            tuple(zip(range(k), sp_slow, strict=True)),
            {"deviations": [{"type": "over_time", "gold_step": slow}]},
        ),
    ]


DEMO_TASKS = (("assemble_valve", 5, 11), ("pack_first_aid_kit", 4, 23))


def write_demo_set(watch_dir: Path, fps: int = 15, size: tuple[int, int] = (320, 240)) -> dict:
    """Write the demo watch-folder layout; return (and save) its ground truth."""
    watch_dir = Path(watch_dir)
    truth: dict = {}
    for task_id, num_steps, seed in DEMO_TASKS:
        task = make_task(task_id, num_steps, seed)
        gold = Variant("gold", tuple((s, 1.0) for s in range(num_steps)))
        gold_truth = render_variant(
            task,
            gold,
            watch_dir / task_id / "gold" / "gold.mp4",
            fps,
            size,
            seed,
            jitter_px=1.0,
            noise=2.0,
        )
        trainees = {}
        for i, variant in enumerate(standard_variants(task, seed + 1)):
            trainees[f"{variant.name}.mp4"] = render_variant(
                task,
                variant,
                watch_dir / task_id / "trainee" / f"{variant.name}.mp4",
                fps,
                size,
                seed + 100 + i,
                jitter_px=1.0,
                noise=2.0,
            )
        truth[task_id] = {"task": asdict(task), "gold": gold_truth, "trainees": trainees}
    (watch_dir / "demo_ground_truth.json").write_text(json.dumps(truth, indent=1))
    return truth
