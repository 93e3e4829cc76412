"""trainee_score: a trainee's saved alignment replayed and turned into what people read.

The search ran once in ``trainee_alignment``; here its result is replayed with one DP and
written out: a ``scores`` row and ``deviations`` rows, a clip of each deviation, the PDF
report, an audit record, and the partition's metadata in the UI.
"""

import functools
import getpass
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from dagster import AssetExecutionContext, AutomationCondition, MetadataValue, asset

from sopilot_pipeline import __version__
from sopilot_pipeline.core.base.digest import sha256_file
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.outputs.clips import cut_clip
from sopilot_pipeline.core.outputs.preview import markdown_image, timeline_png
from sopilot_pipeline.core.outputs.report import ReportContext, write_score_report
from sopilot_pipeline.core.scoring.explain import replay_alignment
from sopilot_pipeline.core.scoring.results import ScoreResult
from sopilot_pipeline.core.scoring.score import evaluate_trainee
from sopilot_pipeline.core.segment.steps import Step
from sopilot_pipeline.core.store.audit import append_audit_record
from sopilot_pipeline.core.store.embeddings import (
    SavedAlignment,
    load_clip_series,
    load_steps,
    load_trainee_alignment,
)
from sopilot_pipeline.core.store.layout import DataLayout, read_json
from sopilot_pipeline.core.store.provenance import gold_versions_by_task, trainee_version
from sopilot_pipeline.core.store.tables import (
    DEVIATIONS_SCHEMA,
    SCORES_SCHEMA,
    deviation_rows,
    score_row,
    write_table,
)
from sopilot_pipeline.core.video.decode import VideoDecodeError, frames_at
from sopilot_pipeline.defs.align import trainee_alignment
from sopilot_pipeline.defs.asset_keys import TRAINEE_SCORE
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch
from sopilot_pipeline.defs.checks import SCORE_CHECK, check_result, score_problem
from sopilot_pipeline.defs.partitions import trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata
from sopilot_pipeline.defs.work import partition_reason

KEYFRAME_WIDTH = 160


@asset(
    name=TRAINEE_SCORE,
    partitions_def=trainee_videos,
    group_name="trainee_videos",
    deps=[trainee_alignment],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet", "pdf"},
    metadata=column_schema_metadata("scores", "deviations"),
    check_specs=[SCORE_CHECK],
    description="Deviations and the 0-100 score of a trainee video; rows in "
    "tables/scores and tables/deviations, and a PDF report.",
)
def trainee_score(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    batch = PartitionBatch(context)

    def score(key: str) -> dict[str, Any]:
        metadata, version = _score_one(layout, key, settings, context.run.run_id)
        batch.versions[key] = version
        return {**metadata, "reason": partition_reason(context.run.tags, key)}

    batch.run(score)
    yield from batch.results()
    yield check_result(list(batch.done), lambda k: score_problem(layout, k), SCORE_CHECK.name)


def _registration(layout: DataLayout, key: str) -> dict:
    try:
        return read_json(layout.registration("trainee", key))
    except (OSError, ValueError):
        return {}


def registered_raw(layout: DataLayout, role: str, key: str) -> tuple[Path, dict] | None:
    """The stored copy of a video and its registration record; None if either is gone."""
    try:
        record = read_json(layout.registration(role, key))
        raw = layout.root / record["raw_path"]
    except (OSError, ValueError, KeyError):
        return None
    return (raw, record) if raw.exists() else None


def shown_raw(
    layout: DataLayout, role: str, key: str, privacy_mask: str
) -> tuple[Path, dict] | None:
    """The raw copy clips and keyframes may be cut from: with masking on, only one masked
    that way (a copy kept before masking was turned on shows nothing)."""
    source = registered_raw(layout, role, key)
    if source is None or privacy_mask == "none":
        return source
    return source if source[1].get("privacy_mask", "none") == privacy_mask else None


def cut_deviation_clips(
    layout: DataLayout,
    folder: Path,
    sources: dict[str, tuple[Path, dict] | None],
    result: ScoreResult,
) -> list[tuple[str | None, str | None]]:
    """(trainee clip, gold clip) per deviation, relative to the data root; None where the
    deviation has no span in that video or the video is no longer stored."""
    shutil.rmtree(folder, ignore_errors=True)  # clips of an earlier score
    out: list[tuple[str | None, str | None]] = []
    for i, d in enumerate(result.deviations):
        pair: list[str | None] = []
        for role, start, end in (
            ("trainee", d.trainee_start_sec, d.trainee_end_sec),
            ("gold", d.gold_start_sec, d.gold_end_sec),
        ):
            source = sources[role]
            if start is None or end is None or source is None:
                pair.append(None)
                continue
            target = folder / f"{i + 1:02d}_{d.type}_{role}.mp4"
            try:
                cut_clip(source[0], target, start, end)
            except (VideoDecodeError, OSError):
                pair.append(None)
                continue
            pair.append(str(target.relative_to(layout.root)))
        out.append((pair[0], pair[1]))
    return out


@functools.lru_cache(maxsize=16)
def _gold_frames(
    path: str, mtime_ns: int, times: tuple[float, ...], size: tuple[int, int]
) -> tuple[np.ndarray, ...]:
    """A task's gold keyframes, decoded once per process for all its trainees."""
    return tuple(frames_at(Path(path), list(times), size))


def step_keyframes(
    sources: dict[str, tuple[Path, dict] | None], result: ScoreResult
) -> tuple[tuple[int, np.ndarray, np.ndarray | None], ...]:
    """Middle frames of each gold step and of its trainee span; () if a video is gone."""
    gold_source, trainee_source = sources["gold"], sources["trainee"]
    if gold_source is None or trainee_source is None:
        return ()
    gold_raw, gold_record = gold_source
    width, height = gold_record["width"], gold_record["height"]
    size = (KEYFRAME_WIDTH, max(2, round(KEYFRAME_WIDTH * height / max(width, 1) / 2) * 2))
    matches = result.step_matches
    found = [m for m in matches if m.found]
    try:
        gold = _gold_frames(
            str(gold_raw),
            gold_raw.stat().st_mtime_ns,
            tuple((m.step.start_sec + m.step.end_sec) / 2 for m in matches),
            size,
        )
        trainee = frames_at(
            trainee_source[0],
            [(m.trainee_start_sec + m.trainee_end_sec) / 2 for m in found],
            size,
        )
    except (OSError, VideoDecodeError):
        return ()
    by_step = {m.step.index: f for m, f in zip(found, trainee, strict=True)}
    return tuple(
        (m.step.index, g, by_step.get(m.step.index)) for m, g in zip(matches, gold, strict=True)
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class Rescored:
    """A trainee's saved alignment replayed and scored, with what its outputs name."""

    key: str
    meta: dict[str, Any]  # the trainee's embeddings metadata
    gold_meta: dict[str, Any]
    saved: SavedAlignment
    steps: tuple[Step, ...]
    gold: ClipSeries
    trainee: ClipSeries
    result: ScoreResult
    version: str  # the partition's data version (``core.store.provenance``)
    scored_at: datetime

    @property
    def task_id(self) -> str:
        return self.meta["task_id"]

    def columns(self) -> dict[str, Any]:
        """The columns every table row of this score starts with."""
        return {
            "task_id": self.task_id,
            "trainee_video": self.meta["video"],
            "gold_video": self.gold_meta["video"],
        }


def rescore(layout: DataLayout, key: str, settings: SopilotSettings) -> Rescored:
    """Replay the trainee's saved alignment against its best gold (one DP) and score it."""
    trainee, meta = load_clip_series(layout, "trainee", key)
    saved = load_trainee_alignment(layout, key, meta["embedder"])
    adapter = saved.adapter
    golds_now = gold_versions_by_task(layout, meta["embedder"]).get(meta["task_id"], {})
    version = trainee_version(
        meta["sha256"],
        meta["embedder"],
        golds_now,
        adapter.version,
        meta.get("privacy_mask", "none"),
    )
    gold, gold_meta = load_clip_series(layout, "gold", saved.gold_key)
    steps = load_steps(layout, meta["task_id"], saved.gold_key)
    gold, adapted = gold.mapped(adapter.apply), trainee.mapped(adapter.apply)
    alignment = replay_alignment(gold, steps, adapted, saved.order, saved.edits, settings.scoring)
    result = evaluate_trainee(
        gold,
        steps,
        adapted,
        settings.scoring,
        alignment=alignment,
        variation=saved.variation,
        timely_elsewhere=saved.timely_elsewhere,
    )
    return Rescored(
        key, meta, gold_meta, saved, steps, gold, adapted, result, version, datetime.now(UTC)
    )


def _score_one(
    layout: DataLayout, key: str, settings: SopilotSettings, run_id: str
) -> tuple[dict[str, Any], str]:
    """Score one trainee and write its outputs; its metadata and data version."""
    r = rescore(layout, key, settings)
    sources = {
        "trainee": shown_raw(layout, "trainee", key, settings.privacy_mask),
        "gold": shown_raw(layout, "gold", r.saved.gold_key, settings.privacy_mask),
    }
    scores_file = write_table(
        layout.table_file("scores", r.task_id, key),
        [_score_row(layout, r, settings)],
        SCORES_SCHEMA,
    )
    clips = cut_deviation_clips(layout, layout.deviation_clips(r.task_id, key), sources, r.result)
    deviations_file = write_table(
        layout.table_file("deviations", r.task_id, key),
        deviation_rows(r.result, clips, **r.columns()),
        DEVIATIONS_SCHEMA,
    )
    report = _write_report(layout, r, sources, clips)
    _audit(
        layout,
        r,
        settings,
        run_id,
        {"scores": scores_file, "deviations": deviations_file, "report": report},
    )
    return _score_metadata(r, report), r.version


def _score_row(layout: DataLayout, r: Rescored, settings: SopilotSettings) -> dict[str, Any]:
    return score_row(
        r.result,
        len(r.steps),
        **r.columns(),
        embedder=r.meta["embedder"],
        adapter_version=r.saved.adapter.version,
        pipeline_version=__version__,
        scored_at=r.scored_at,
        duplicate_of=_registration(layout, r.key).get("duplicate_of"),
        privacy_mask=settings.privacy_mask,
    )


def _write_report(
    layout: DataLayout,
    r: Rescored,
    sources: dict[str, tuple[Path, dict] | None],
    clips: list[tuple[str | None, str | None]],
) -> Path:
    """The PDF report, linking each deviation's clips relative to where it lies."""
    target = layout.report(r.task_id, r.key)
    linked = tuple(
        tuple(os.path.relpath(layout.root / c, target.parent) if c else None for c in pair)
        for pair in clips
    )
    return write_score_report(
        target,
        r.result,
        ReportContext(
            task_id=r.task_id,
            trainee_video=r.meta["video"],
            gold_video=r.gold_meta["video"],
            gold_duration_sec=float(r.gold.end_sec[-1]),
            trainee_duration_sec=float(r.trainee.end_sec[-1]),
            embedder=r.meta["embedder"],
            adapter_version=r.saved.adapter.version,
            scored_at=r.scored_at.isoformat(timespec="seconds"),
            keyframes=step_keyframes(sources, r.result),
            step_names=tuple(s.label for s in r.steps),
            deviation_clips=linked,
        ),
    )


def _audit(
    layout: DataLayout,
    r: Rescored,
    settings: SopilotSettings,
    run_id: str,
    outputs: dict[str, Path],
) -> None:
    """One hash-chained audit record: who scored what from which inputs into which outputs."""
    append_audit_record(
        layout.audit_log,
        {
            "event": "score",
            "who": {"user": _user(), "host": socket.gethostname(), "run_id": run_id},
            "task_id": r.task_id,
            "trainee_video": r.meta["video"],
            "trainee_key": r.key,
            "gold_video": r.gold_meta["video"],
            "gold_key": r.saved.gold_key,
            "score": r.result.score,
            "deviations": dict(r.result.counts),
            "embedder": r.meta["embedder"],
            "adapter_version": r.saved.adapter.version,
            "pipeline_version": __version__,
            "privacy_mask": settings.privacy_mask,
            "scored_at": r.scored_at.isoformat(),
            "inputs": {
                "trainee_sha256": r.meta["sha256"],
                "gold_sha256": r.gold_meta["sha256"],
                "trainee_embeddings_sha256": sha256_file(layout.clip_vectors("trainee", r.key)),
                "gold_embeddings_sha256": sha256_file(
                    layout.clip_vectors("gold", r.saved.gold_key)
                ),
            },
            "outputs": {f"{name}_sha256": sha256_file(path) for name, path in outputs.items()},
        },
    )


def _score_metadata(r: Rescored, report: Path) -> dict[str, Any]:
    """What the UI shows of the partition: the score, a timeline and every deviation."""
    result = r.result
    headline = f"**Score {result.score:.1f}** for `{r.meta['video']}`"
    lines = [f"{headline} against `{r.gold_meta['video']}`", ""]
    lines += [f"- {d.type} ({d.step_name or '-'}): {d.detail}" for d in result.deviations] or [
        "- no deviations"
    ]
    summary = "\n".join(lines)
    matches = result.step_matches
    timeline = timeline_png(
        [(m.step.index, m.step.start_sec, m.step.end_sec) for m in matches],
        [(m.step.index, m.trainee_start_sec, m.trainee_end_sec) for m in matches if m.found],
        [
            (d.type, d.trainee_start_sec, d.trainee_end_sec, True)
            if d.trainee_start_sec is not None
            else (d.type, d.gold_start_sec, d.gold_end_sec, False)
            for d in result.deviations
            if d.trainee_start_sec is not None or d.gold_start_sec is not None
        ],
    )
    return {
        "timeline": MetadataValue.md(markdown_image(timeline, "gold vs trainee steps")),
        "task_id": r.task_id,
        "score": result.score,
        "num_deviations": len(result.deviations),
        "deviation_rows": len(result.deviations),
        **{f"num_{k}": v for k, v in result.counts.items()},
        "summary": MetadataValue.md(summary),
        "report": MetadataValue.path(str(report)),
    }
