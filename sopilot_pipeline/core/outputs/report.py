"""PDF score report (reportlab): summary with the penalties behind the score, step
timeline, gold-vs-trainee keyframes per step, deviations; one page each."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.outputs.preview import DEVIATION_COLOURS, STEP_COLOURS
from sopilot_pipeline.core.scoring.results import ScoreResult

SECTIONS = ("Summary", "Step timeline", "Keyframes", "Deviations")


def _colour(rgb: tuple[int, int, int]) -> colors.Color:
    return colors.Color(*(c / 255 for c in rgb))


# the same colours as the UI previews (core/outputs/preview.py)
_DEVIATION_COLOURS = {kind: _colour(rgb) for kind, rgb in DEVIATION_COLOURS.items()}
_STEP_COLOURS = [_colour(rgb) for rgb in STEP_COLOURS]


@dataclass(frozen=True)
class ReportContext:
    task_id: str
    trainee_video: str
    gold_video: str
    gold_duration_sec: float
    trainee_duration_sec: float
    embedder: str
    adapter_version: str
    scored_at: str
    # per gold step: (step index, gold frame, trainee frame or None when not performed)
    keyframes: tuple[tuple[int, np.ndarray, np.ndarray | None], ...] = ()
    # per deviation: (trainee clip, gold clip) paths relative to the report, or None
    deviation_clips: tuple[tuple[str | None, str | None], ...] = ()
    step_names: tuple[str, ...] = ()  # per gold step, authored or "step N"


def verdict(score: float) -> str:
    if score >= 90:
        return "PASS - performed as demonstrated"
    if score >= 70:
        return "REVIEW - deviations worth a look"
    return "FAIL - retrain on this procedure"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timeline(result: ScoreResult, ctx: ReportContext, width: float) -> Drawing:
    height = 70 * mm
    d = Drawing(width, height)
    span = max(ctx.gold_duration_sec, ctx.trainee_duration_sec, 1e-6)
    left, right = 28 * mm, width - 5 * mm
    scale = (right - left) / span
    rows = {"Gold": height - 20 * mm, "Trainee": height - 42 * mm}
    for label, y in rows.items():
        d.add(String(2 * mm, y + 3 * mm, label, fontSize=9))

    def step_bar(row: str, start_sec: float, end_sec: float, step: int, colour) -> None:
        x = left + start_sec * scale
        w = max(1, (end_sec - start_sec) * scale)
        d.add(Rect(x, rows[row], w, 9 * mm, fillColor=colour, strokeColor=colors.white))
        d.add(String(x + 1, rows[row] + 3 * mm, f"{step + 1}", fontSize=8, fillColor=colors.white))

    for m in result.step_matches:
        c = _STEP_COLOURS[m.step.index % len(_STEP_COLOURS)]
        step_bar("Gold", m.step.start_sec, m.step.end_sec, m.step.index, c)
        if m.found:
            step_bar("Trainee", m.trainee_start_sec, m.trainee_end_sec, m.step.index, c)
    for dev in result.deviations:
        # mark the trainee's span where the deviation has one, else the gold step's
        if dev.trainee_start_sec is not None:
            row, t0, t1 = "Trainee", dev.trainee_start_sec, dev.trainee_end_sec
        elif dev.gold_start_sec is not None:
            row, t0, t1 = "Gold", dev.gold_start_sec, dev.gold_end_sec
        else:
            continue
        x0 = left + t0 * scale
        x1 = left + (t1 or t0) * scale
        d.add(
            Rect(
                x0,
                rows[row] - 4 * mm,
                max(2, x1 - x0),
                2.5 * mm,
                fillColor=_DEVIATION_COLOURS[dev.type],
                strokeColor=None,
            )
        )
    axis_y = 8 * mm
    d.add(Line(left, axis_y, right, axis_y, strokeColor=colors.grey))
    ticks = max(1, int(span // 5) + 1)
    for k in range(ticks + 1):
        t = k * 5.0
        if t > span:
            break
        d.add(String(left + t * scale - 3, axis_y - 4 * mm, f"{t:.0f}s", fontSize=7))
    legend_x = left
    for name, colour in _DEVIATION_COLOURS.items():
        d.add(Rect(legend_x, height - 6 * mm, 3 * mm, 3 * mm, fillColor=colour, strokeColor=None))
        d.add(String(legend_x + 4 * mm, height - 5.5 * mm, name, fontSize=7))
        legend_x += 30 * mm
    return d


def _clip_links(ctx: ReportContext, i: int) -> str:
    if i >= len(ctx.deviation_clips):
        return "-"
    links = [
        f'<link href="{_esc(path)}" color="blue">{label}</link>'
        for label, path in zip(("trainee", "gold"), ctx.deviation_clips[i], strict=True)
        if path
    ]
    return "<br/>".join(links) or "-"


def _image(frame: np.ndarray, height: float) -> Image:
    buf = io.BytesIO()
    PILImage.fromarray(frame).save(buf, format="PNG")
    buf.seek(0)
    h, w = frame.shape[:2]
    return Image(buf, width=height * w / h, height=height)


def _keyframes(ctx: ReportContext, body, grid: TableStyle) -> list:
    if not ctx.keyframes:
        return [Paragraph("Keyframes are not available (the videos are no longer stored).", body)]
    row_height = min(32 * mm, 215 * mm / len(ctx.keyframes))
    rows = [["Step", "Gold", "Trainee"]]
    names = dict(enumerate(ctx.step_names))
    for step, gold, trainee in ctx.keyframes:
        rows.append(
            [
                Paragraph(_esc(f"{step + 1}. {names.get(step, f'step {step + 1}')}"), body),
                _image(gold, row_height),
                _image(trainee, row_height) if trainee is not None else "not performed",
            ]
        )
    return [
        Paragraph(
            "The middle frame of each gold step, and of the same step in the trainee "
            "video where it was performed.",
            body,
        ),
        Spacer(1, 3 * mm),
        Table(rows, style=grid),
    ]


def write_score_report(path: Path, result: ScoreResult, ctx: ReportContext) -> Path:
    """Render the report to ``path`` atomically; one page per entry of ``SECTIONS``."""
    styles = getSampleStyleSheet()
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    body = styles["BodyText"]
    story: list = [
        Paragraph(f"SOPilot score report: {_esc(ctx.task_id)}", styles["Title"]),
        Paragraph(SECTIONS[0], styles["Heading2"]),
        *_summary(result, ctx, styles, grid),
        PageBreak(),
        Paragraph(SECTIONS[1], styles["Heading2"]),
        *_steps(result, ctx, body, grid),
        PageBreak(),
        Paragraph(SECTIONS[2], styles["Heading2"]),
        *_keyframes(ctx, body, grid),
        PageBreak(),
        Paragraph(SECTIONS[3], styles["Heading2"]),
        _deviations(result, ctx, body, grid),
    ]

    def build(tmp: Path) -> None:
        doc = SimpleDocTemplate(
            str(tmp),
            pagesize=A4,
            title=f"SOPilot report {ctx.task_id} / {ctx.trainee_video}",
            leftMargin=20 * mm,
            rightMargin=20 * mm,
            topMargin=18 * mm,
            bottomMargin=18 * mm,
        )
        doc.build(story)

    return atomic_write_with(path, build)


def _summary(result: ScoreResult, ctx: ReportContext, styles, grid: TableStyle) -> list:
    """Who, what and the score, and the penalties that make it up."""
    body = styles["BodyText"]
    penalties = [
        [p.name, f"{p.quantity:g}", f"-{p.points:.1f}", Paragraph(_esc(p.explanation), body)]
        for p in result.penalties
    ]
    return [
        Table(
            [
                ["Task", ctx.task_id],
                ["Trainee video", ctx.trainee_video],
                ["Gold video", ctx.gold_video],
                ["Score", f"{result.score:.1f} / 100"],
                ["Verdict", verdict(result.score)],
                ["Scored at", ctx.scored_at],
                ["Embedder / adapter", f"{ctx.embedder} / {ctx.adapter_version}"],
            ],
            colWidths=[40 * mm, 120 * mm],
            style=grid,
        ),
        Spacer(1, 6 * mm),
        Paragraph("How the score was reached", styles["Heading3"]),
        Table(
            [["Penalty", "Quantity", "Points", "Rule"]]
            + penalties
            + [["Score", "", f"{result.score:.1f}", "100 minus the points above, kept in 0-100"]],
            colWidths=[30 * mm, 20 * mm, 18 * mm, 95 * mm],
            style=grid,
        ),
    ]


def _steps(result: ScoreResult, ctx: ReportContext, body, grid: TableStyle) -> list:
    """The timeline of gold and trainee steps, and each step as performed."""
    rows = [
        [
            str(m.step.index + 1),
            Paragraph(_esc(m.step.label), body),
            f"{m.step.start_sec:.1f}-{m.step.end_sec:.1f}",
            f"{m.trainee_start_sec:.1f}-{m.trainee_end_sec:.1f}" if m.found else "-",
            ("in order" if m.in_order else "out of order") if m.found else "no",
            f"{m.duration_ratio:.2f}x" if m.found else "-",
            f"{m.mean_cost:.2f}" if m.found else "-",
        ]
        for m in result.step_matches
    ]
    header = ["Step", "Name", "Gold (s)", "Trainee (s)", "Performed", "Duration", "Match cost"]
    return [
        Paragraph(
            "Gold steps (top) against where the trainee performed them (bottom); coloured "
            "bars under a row mark deviations.",
            body,
        ),
        Spacer(1, 4 * mm),
        _timeline(result, ctx, A4[0] - 40 * mm),
        Spacer(1, 4 * mm),
        Table([header] + rows, style=grid),
    ]


def _deviations(result: ScoreResult, ctx: ReportContext, body, grid: TableStyle):
    """Every deviation with its detail and links to its clips."""
    if not result.deviations:
        return Paragraph("No deviations: the trainee followed the procedure.", body)
    rows = [
        [
            d.type,
            "-"
            if d.gold_step is None
            else Paragraph(_esc(f"{d.gold_step + 1}. {d.step_name or ''}"), body),
            "-"
            if d.trainee_start_sec is None
            else f"{d.trainee_start_sec:.1f}-{d.trainee_end_sec:.1f}",
            f"{d.severity:.2f}",
            Paragraph(_esc(d.detail), body),
            Paragraph(_clip_links(ctx, i), body),
        ]
        for i, d in enumerate(result.deviations)
    ]
    return Table(
        [["Type", "Gold step", "Trainee (s)", "Severity", "Detail", "Clips"]] + rows,
        colWidths=[23 * mm, 24 * mm, 20 * mm, 14 * mm, 70 * mm, 19 * mm],
        style=grid,
    )
