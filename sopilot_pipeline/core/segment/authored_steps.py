"""Authored steps: the gold's author names the steps of an SOP in a sidecar CSV.

``watch/<task_id>/gold/<stem>.steps.csv`` beside a gold video ``<stem>.<ext>``: UTF-8
CSV with a header row, columns ``start_sec,end_sec,name`` and an optional ``weight``
(the penalty multiplier of the step, default 1). When present it replaces step
detection for that gold. Every problem is reported with the line it is on, so the
author can fix the file; a bad sidecar rejects its gold and nothing else.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sopilot_pipeline.core.segment.steps import Step, clip_middles, steps_from_spans

SIDECAR_SUFFIX = ".steps.csv"
REQUIRED_COLUMNS = ("start_sec", "end_sec", "name")
MAX_SIDECAR_BYTES = 1 << 20  # a thousand steps fit in a few tens of kB
MAX_WEIGHT = 100.0
# times may overshoot the decoded duration by this much (container durations are
# rounded, and an author reads the end off a player)
END_TOLERANCE_SEC = 0.5


class SidecarError(ValueError):
    """The sidecar cannot be used; the message names the file's line and the reason."""


@dataclass(frozen=True)
class AuthoredStep:
    start_sec: float
    end_sec: float
    name: str
    weight: float = 1.0
    line: int = 0  # where it is in the file, for messages


def authored_source(video: Path) -> str:
    """How a gold's steps came from its sidecar, as recorded with them (``source``)."""
    return f"authored ({sidecar_path(video).name})"


def is_authored_source(source: str) -> bool:
    """Whether recorded steps came from a sidecar (``authored_source``), not detection."""
    return source.startswith("authored (")


def sidecar_path(video: Path) -> Path:
    """Where the authored steps of ``video`` live (the stem without the extension)."""
    stem = video.name.rsplit(".", 1)[0] if "." in video.name else video.name
    return video.with_name(stem + SIDECAR_SUFFIX)


def sidecar_digest(video: Path) -> str:
    """Content hash of the video's sidecar ("none" without one, "unreadable" if it
    cannot be read): part of what decides whether a gold and its trainees are done."""
    try:
        return _digest(sidecar_path(video).read_bytes())
    except FileNotFoundError:
        return "none"
    except OSError:
        return "unreadable"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _number(text: str, column: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SidecarError(f"line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SidecarError(f"line {line}: {column} {text!r} is not a finite number")
    return value


def parse_steps_csv(data: bytes, duration_sec: float | None = None) -> tuple[AuthoredStep, ...]:
    """Parse and validate a sidecar's bytes; ``duration_sec`` bounds the times.

    Raises :class:`SidecarError` naming the line (1 is the header) and the reason.
    """
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"file is {len(data)} bytes, more than {MAX_SIDECAR_BYTES}")
    if b"\x00" in data:
        raise SidecarError("not a text file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SidecarError(f"line {line}: not UTF-8 text ({exc.reason})") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise SidecarError(f"not valid CSV: {exc}") from None
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise SidecarError("empty file: a header row start_sec,end_sec,name is required")
    header_line, header = numbered[0]
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise SidecarError(
            f"line {header_line}: header {','.join(header)!r} lacks column(s) "
            f"{', '.join(missing)} (required: {','.join(REQUIRED_COLUMNS)}, optional: weight)"
        )
    if len(set(columns)) != len(columns):
        raise SidecarError(f"line {header_line}: a column is named twice in the header")
    at = {c: columns.index(c) for c in columns}
    steps: list[AuthoredStep] = []
    previous_end, previous_line = -math.inf, 0
    for line, row in numbered[1:]:
        if len(row) != len(columns):
            raise SidecarError(
                f"line {line}: {len(row)} fields where the header has {len(columns)}"
            )
        start = _number(row[at["start_sec"]].strip(), "start_sec", line)
        end = _number(row[at["end_sec"]].strip(), "end_sec", line)
        name = row[at["name"]].strip()
        weight = 1.0
        if "weight" in at and row[at["weight"]].strip():
            weight = _number(row[at["weight"]].strip(), "weight", line)
            if not 0 < weight <= MAX_WEIGHT:
                raise SidecarError(f"line {line}: weight {weight:g} is not in (0, {MAX_WEIGHT:g}]")
        if not name:
            raise SidecarError(f"line {line}: the step has no name")
        if start < 0:
            raise SidecarError(f"line {line}: start_sec {start:g} is before the video starts")
        if end <= start:
            raise SidecarError(f"line {line}: end_sec {end:g} is not after start_sec {start:g}")
        if duration_sec is not None and end > duration_sec + END_TOLERANCE_SEC:
            raise SidecarError(
                f"line {line}: end_sec {end:g} is past the end of the video ({duration_sec:.2f} s)"
            )
        if start < previous_end:
            raise SidecarError(
                f"line {line}: starts at {start:g} s, before the step on line "
                f"{previous_line} ends ({previous_end:g} s): steps must be in time order "
                "and must not overlap"
            )
        steps.append(AuthoredStep(start, min(end, duration_sec or end), name, weight, line))
        previous_end, previous_line = end, line
    if not steps:
        raise SidecarError(f"no steps: only the header on line {header_line}")
    return tuple(steps)


def read_sidecar(
    video: Path, duration_sec: float | None
) -> tuple[tuple[AuthoredStep, ...] | None, str]:
    """The authored steps of ``video`` (None when it has no sidecar) and the sidecar's
    ``sidecar_digest``, from one read."""
    path = sidecar_path(video)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "none"
    except OSError as exc:
        raise SidecarError(f"cannot read: {exc.strerror or exc}") from exc
    return parse_steps_csv(data, duration_sec), _digest(data)


def authored_gold_steps(
    authored: tuple[AuthoredStep, ...], start_sec: np.ndarray
) -> tuple[Step, ...]:
    """Authored steps on the gold's clips. A step that holds no clip (no clip's stride
    is centred in it: shorter than the clip spacing, 0.5 s by default) cannot be told
    apart: an error on its line."""
    spans = [(a.start_sec, a.end_sec, a.name, a.weight) for a in authored]
    steps = steps_from_spans(spans, start_sec)
    middles = clip_middles(start_sec)
    spacing = float(np.median(np.diff(start_sec))) if len(start_sec) > 1 else 0.0
    previous_end = 0
    for a, step in zip(authored, steps, strict=True):
        owns = (
            step.start_clip >= previous_end
            and a.start_sec - 1e-6 <= middles[step.start_clip] < a.end_sec - 1e-6
        )
        if not owns:
            raise SidecarError(
                f"line {a.line}: no clip is centred inside {a.start_sec:g}-{a.end_sec:g} s "
                f"(clips start every {spacing:.2f} s): the step is too short to score"
            )
        previous_end = step.end_clip
    return steps
