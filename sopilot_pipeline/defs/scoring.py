"""Gold steps, trainee alignment and trainee score: the per-task comparison assets.

Pairwise assets are partitioned by trainee (a score belongs to a trainee video) and
read their task's gold artefacts from the data layout. ``trainee_alignment`` runs the
expensive edit search once; ``trainee_score`` replays the saved result with one DP.
"""

import functools
import getpass
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    MetadataValue,
    asset,
)

from sopilot_pipeline import __version__
from sopilot_pipeline.core.align.edit_totals_gpu import gpu_available as lockstep_available
from sopilot_pipeline.core.base.digest import sha256_file
from sopilot_pipeline.core.embed.adapter import FeatureAdapter, TaskAdapter
from sopilot_pipeline.core.embed.heuristic import feature_groups, where_dimensions
from sopilot_pipeline.core.embed.series import ClipSeries
from sopilot_pipeline.core.outputs.clips import cut_clip
from sopilot_pipeline.core.outputs.preview import (
    alignment_preview_png,
    markdown_image,
    timeline_png,
)
from sopilot_pipeline.core.outputs.report import ReportContext, write_score_report
from sopilot_pipeline.core.scoring.explain import (
    TraineeAlignment,
    align_to_golds,
    align_trainees,
    replay_alignment,
)
from sopilot_pipeline.core.scoring.gold_model import (
    gold_variations,
    is_rest_pose_task,
    task_feature_scale,
)
from sopilot_pipeline.core.scoring.results import GoldVariation, ScoreResult, ScoringConfig
from sopilot_pipeline.core.scoring.score import evaluate_trainee
from sopilot_pipeline.core.segment.authored_steps import (
    SidecarError,
    authored_gold_steps,
    read_sidecar,
    sidecar_path,
)
from sopilot_pipeline.core.segment.steps import detect_gold_steps
from sopilot_pipeline.core.store.audit import append_audit_record
from sopilot_pipeline.core.store.embeddings import (
    SavedAlignment,
    current_adapter,
    gold_keys_for_task,
    load_clip_series,
    load_steps,
    load_trainee_alignment,
    save_trainee_alignment,
    task_fallback_adapter,
)
from sopilot_pipeline.core.store.layout import DataLayout, read_json, write_json
from sopilot_pipeline.core.store.provenance import (
    gold_version,
    gold_versions_by_task,
    trainee_version,
)
from sopilot_pipeline.core.store.tables import (
    DEVIATIONS_SCHEMA,
    SCORES_SCHEMA,
    STEPS_SCHEMA,
    write_table,
)
from sopilot_pipeline.core.video.decode import VideoDecodeError, frames_at
from sopilot_pipeline.defs.batch import BATCHED, PartitionBatch, Skip
from sopilot_pipeline.defs.checks import SCORE_CHECK, check_result, score_problem
from sopilot_pipeline.defs.ingest import record_rejection
from sopilot_pipeline.defs.partitions import gold_videos, trainee_videos
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.schemas import column_schema_metadata
from sopilot_pipeline.defs.work import redo_reason_of

KEYFRAME_WIDTH = 160

GOLD_INPUTS = [
    AssetKey("gold_clip_embeddings"),
    AssetKey("gold_steps"),
    AssetKey("feature_adapter"),
]


@asset(
    partitions_def=gold_videos,
    group_name="gold_videos",
    deps=["gold_clip_embeddings"],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager(),
    kinds={"parquet"},
    metadata=column_schema_metadata("steps"),
    description="Steps of a gold video: authored in `<stem>.steps.csv` beside the video "
    "(names and weights), else detected (SOPILOT_STEP_METHOD, by default the returns to "
    "the rest pose the video opens in, or kernel change points; named `step 1`, "
    "`step 2`, ...); written to tables/steps. A bad sidecar rejects the gold with the "
    "line at fault.",
)
def gold_steps(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    batch = PartitionBatch(context)

    def segment(key: str) -> dict[str, Any]:
        series, meta = load_clip_series(layout, "gold", key)
        task_id = meta["task_id"]
        video = layout.watch / task_id / "gold" / meta["video"]
        try:
            authored, sidecar_sha256 = read_sidecar(video, meta.get("duration_sec"))
            steps = authored_gold_steps(authored, series.start_sec) if authored else None
        except SidecarError as exc:
            reason = f"steps sidecar {sidecar_path(video).name}: {exc}"
            layout.table_file("steps", task_id, key).unlink(missing_ok=True)
            layout.gold_step_details(key).unlink(missing_ok=True)
            record_rejection(context, layout, "gold", key, task_id, meta["video"], reason)
            raise Skip(reason) from exc
        source = f"authored ({sidecar_path(video).name})" if steps else "detected"
        if steps is None:
            steps = detect_gold_steps(
                series.vectors,
                series.start_sec,
                series.end_sec,
                feature_groups(meta["embedder"]),
                settings.step_detection,
            )
        rows = [
            {
                "task_id": task_id,
                "gold_video": meta["video"],
                "step": s.index,
                "start_sec": s.start_sec,
                "end_sec": s.end_sec,
                "step_name": s.label,
            }
            for s in steps
        ]
        write_json(
            layout.gold_step_details(key),
            {
                "source": source,
                "sidecar_sha256": sidecar_sha256,
                "weights": [s.weight for s in steps],
            },
        )
        write_table(layout.table_file("steps", task_id, key), rows, STEPS_SCHEMA)
        batch.versions[key] = gold_version(
            meta["sha256"], meta["embedder"], sidecar_sha256, meta.get("privacy_mask", "none")
        )
        table = (
            "| step | name | start (s) | end (s) | weight |\n|---|---|---|---|---|\n"
            + "\n".join(
                f"| {s.index + 1} | {_md_cell(s.label)} | {s.start_sec:.1f} | {s.end_sec:.1f} "
                f"| {s.weight:g} |"
                for s in steps
            )
        )
        return {
            "task_id": task_id,
            "reason": _reason(context, key),
            "num_steps": len(steps),
            "step_source": source,
            "steps": MetadataValue.md(table),
            "dagster/row_count": len(rows),
        }

    batch.run(segment)
    yield from batch.results()


def _reason(context: AssetExecutionContext, key: str) -> str:
    """Why this partition is (re)done: the sensor's or ``process``'s reason, else a
    materialisation someone asked for (the UI, a backfill)."""
    return redo_reason_of(context.run.tags, key) or "asked for in the UI or a backfill"


def _md_cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _adapter_for(layout: DataLayout, embedder: str, golds: list[np.ndarray]) -> FeatureAdapter:
    return current_adapter(layout, embedder) or task_fallback_adapter(golds, embedder)


@asset(
    partitions_def=trainee_videos,
    group_name="trainee_videos",
    deps=[
        "trainee_clip_embeddings",
        AssetDep("gold_clip_embeddings", partition_mapping=AllPartitionMapping()),
        AssetDep("gold_steps", partition_mapping=AllPartitionMapping()),
        "feature_adapter",
    ],
    output_required=False,
    backfill_policy=BATCHED,
    automation_condition=AutomationCondition.eager().ignore(AssetSelection.assets(*GOLD_INPUTS)),
    kinds={"numpy"},
    description="The trainee explained against each gold video of its task (DTW over an "
    "edited gold step sequence, in the current adapter's feature space); keeps the gold "
    "that explains it best. Waits (no output) while the task has no gold video yet.",
)
def trainee_alignment(context: AssetExecutionContext, settings: SopilotSettings):
    layout = settings.layout
    task_golds = TaskGolds(layout, settings.scoring)
    batch = PartitionBatch(context)
    searched = searched_together(layout, task_golds, batch.keys, settings.scoring)

    def align(key: str) -> dict[str, Any]:
        meta, golds, adapted_trainee = adapted_trainee_for(layout, task_golds, key)
        if golds is None:
            context.log.warning(f"task {meta['task_id']!r} has no gold video yet; not scored")
            raise Skip("task has no gold video with steps yet")
        adapter, adapted_golds, variations = golds
        t0 = time.perf_counter()
        alignments = searched.pop(key, None) or align_to_golds(
            adapted_golds, adapted_trainee, settings.scoring
        )
        candidates: dict[str, ScoreResult] = {
            g: evaluate_trainee(
                series,
                steps,
                adapted_trainee,
                settings.scoring,
                alignment=alignments[g],
                variation=variations[g],
            )
            for g, (series, steps) in adapted_golds.items()
        }
        # the gold the trainee is closest to is the one that explains them best
        best = max(candidates, key=lambda g: (candidates[g].score, -candidates[g].mean_cost))
        result = candidates[best]
        elapsed = time.perf_counter() - t0
        save_trainee_alignment(
            layout,
            key,
            SavedAlignment(
                gold_key=best,
                order=result.alignment.order,
                edits=result.edits,
                adapter=adapter,
                path=result.alignment.path,
                mean_cost=result.mean_cost,
                variation=variations[best],
            ),
        )
        gold_series = adapted_golds[best][0]
        preview = alignment_preview_png(
            gold_series.vectors, adapted_trainee.vectors, result.alignment.path
        )
        return {
            "preview": MetadataValue.md(markdown_image(preview, "alignment path")),
            "task_id": meta["task_id"],
            "gold_video": best,
            "golds_compared": len(candidates),
            "orders_allowed_by_other_golds": len(variations[best].free_pairs),
            "rest_pose_task": variations[best].rest_pose,
            "path_length": len(result.alignment.path),
            "mean_cost": round(result.mean_cost, 4),
            "adapter_version": adapter.version,
            "dtw_seconds": round(elapsed, 4),
        }

    batch.run(align)
    yield from batch.results()


def adapted_trainee_for(
    layout: DataLayout, task_golds: "TaskGolds", key: str
) -> tuple[dict[str, Any], "LoadedGolds | None", ClipSeries]:
    """A trainee's metadata, its task's golds (None: no gold yet) and its clips in their
    adapter's feature space (the raw clips while there is no gold)."""
    trainee, meta = load_clip_series(layout, "trainee", key)
    golds = task_golds.get(meta["task_id"], meta["embedder"])
    if golds is None:
        return meta, None, trainee
    adapter = golds[0]
    return (
        meta,
        golds,
        ClipSeries(adapter.apply(trainee.vectors), trainee.start_sec, trainee.end_sec),
    )


LOCKSTEP_BYTES = 1 << 30
"""Cost matrices of a range run's trainees searched together on a GPU, at most."""


def searched_together(
    layout: DataLayout, task_golds: "TaskGolds", keys: list[str], config: ScoringConfig
) -> dict[str, dict[str, TraineeAlignment]]:
    """On a GPU, the alignments of a range run's trainees against their golds, searched
    in lockstep in groups of up to ``LOCKSTEP_BYTES`` of cost matrices (one kernel launch
    per round for the whole group). Empty on the CPU, where that gains nothing. A
    trainee that cannot be prepared here is left out: it is aligned, and fails with its
    reason, on its own."""
    if not lockstep_available():
        return {}
    out: dict[str, dict[str, TraineeAlignment]] = {}
    group: list[tuple[str, dict, ClipSeries]] = []
    size = 0

    def search() -> None:
        nonlocal size
        found = align_trainees([(golds, trainee) for _, golds, trainee in group], config)
        out.update({key: a for (key, _, _), a in zip(group, found, strict=True)})
        group.clear()
        size = 0

    for key in keys:
        try:
            _, golds, adapted = adapted_trainee_for(layout, task_golds, key)
        except Exception:  # noqa: BLE001 - the key's own alignment reports it
            continue
        if golds is None:
            continue
        adapted_golds = golds[1]
        group.append((key, adapted_golds, adapted))
        size += sum(len(g.vectors) for g, _ in adapted_golds.values()) * len(adapted.vectors) * 4
        if size >= LOCKSTEP_BYTES:
            search()
    if group:
        search()
    return out


LoadedGolds = tuple[TaskAdapter, dict, dict[str, GoldVariation]]


class TaskGolds:
    """Each task's golds (adapted, with steps, and what they allow together) loaded once
    per step, not once per trainee."""

    def __init__(self, layout: DataLayout, config: ScoringConfig) -> None:
        self.layout = layout
        self.config = config
        self.cache: dict[tuple[str, str], LoadedGolds | None] = {}

    def get(self, task_id: str, embedder: str) -> LoadedGolds | None:
        if (task_id, embedder) not in self.cache:
            self.cache[task_id, embedder] = self._load(task_id, embedder)
        return self.cache[task_id, embedder]

    def _load(self, task_id: str, embedder: str) -> LoadedGolds | None:
        gold_keys = gold_keys_for_task(self.layout, task_id, embedder)
        if not gold_keys:
            return None
        golds = {g: load_clip_series(self.layout, "gold", g)[0] for g in gold_keys}
        base = _adapter_for(self.layout, embedder, [g.vectors for g in golds.values()])
        rest_pose = is_rest_pose_task(golds)
        adapter = TaskAdapter(base, task_feature_scale(rest_pose, where_dimensions(embedder)))
        adapted = {
            g: (
                ClipSeries(adapter.apply(series.vectors), series.start_sec, series.end_sec),
                load_steps(self.layout, task_id, g),
            )
            for g, series in golds.items()
        }
        return adapter, adapted, gold_variations(adapted, self.config, rest_pose)


@asset(
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
        return {**metadata, "reason": _reason(context, key)}

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


def _score_one(
    layout: DataLayout, key: str, settings: SopilotSettings, run_id: str
) -> tuple[dict[str, Any], str]:
    """The partition's metadata, and its data version (``core.provenance``)."""
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
    task_id = meta["task_id"]
    steps = load_steps(layout, task_id, saved.gold_key)
    adapted_gold = ClipSeries(adapter.apply(gold.vectors), gold.start_sec, gold.end_sec)
    adapted_trainee = ClipSeries(adapter.apply(trainee.vectors), trainee.start_sec, trainee.end_sec)
    alignment = replay_alignment(
        adapted_gold, steps, adapted_trainee, saved.order, saved.edits, settings.scoring
    )
    result = evaluate_trainee(
        adapted_gold,
        steps,
        adapted_trainee,
        settings.scoring,
        alignment=alignment,
        variation=saved.variation,
    )
    scored_at = datetime.now(UTC)
    c = result.counts
    mean_cost = result.mean_cost
    write_table(
        layout.table_file("scores", task_id, key),
        [
            {
                "task_id": task_id,
                "trainee_video": meta["video"],
                "gold_video": gold_meta["video"],
                "score": result.score,
                "num_gold_steps": len(steps),
                "num_missing": c["missing_step"],
                "num_swapped": c["swapped_step"],
                "num_over_time": c["over_time"],
                "num_extra": c["extra_step"],
                "alignment_cost": mean_cost,
                "embedder": meta["embedder"],
                "adapter_version": adapter.version,
                "pipeline_version": __version__,
                "scored_at": scored_at,
                "duplicate_of": _registration(layout, key).get("duplicate_of"),
                "privacy_mask": settings.privacy_mask,
            }
        ],
        SCORES_SCHEMA,
    )
    sources = {
        "trainee": shown_raw(layout, "trainee", key, settings.privacy_mask),
        "gold": shown_raw(layout, "gold", saved.gold_key, settings.privacy_mask),
    }
    clips = cut_deviation_clips(layout, layout.deviation_clips(task_id, key), sources, result)
    write_table(
        layout.table_file("deviations", task_id, key),
        [
            {
                "task_id": task_id,
                "trainee_video": meta["video"],
                "gold_video": gold_meta["video"],
                "type": d.type,
                "gold_step": d.gold_step,
                "gold_start_sec": d.gold_start_sec,
                "gold_end_sec": d.gold_end_sec,
                "trainee_start_sec": d.trainee_start_sec,
                "trainee_end_sec": d.trainee_end_sec,
                "severity": d.severity,
                "detail": d.detail,
                "trainee_clip": trainee_clip,
                "gold_clip": gold_clip,
                "step_name": d.step_name,
            }
            for d, (trainee_clip, gold_clip) in zip(result.deviations, clips, strict=True)
        ],
        DEVIATIONS_SCHEMA,
    )
    report = write_score_report(
        layout.report(task_id, key),
        result,
        ReportContext(
            task_id=task_id,
            trainee_video=meta["video"],
            gold_video=gold_meta["video"],
            gold_duration_sec=float(gold.end_sec[-1]),
            trainee_duration_sec=float(trainee.end_sec[-1]),
            embedder=meta["embedder"],
            adapter_version=adapter.version,
            scored_at=scored_at.isoformat(timespec="seconds"),
            keyframes=step_keyframes(sources, result),
            step_names=tuple(s.label for s in steps),
            deviation_clips=tuple(
                tuple(
                    os.path.relpath(layout.root / c, layout.report(task_id, key).parent)
                    if c
                    else None
                    for c in pair
                )
                for pair in clips
            ),
        ),
    )
    scores_file = layout.table_file("scores", task_id, key)
    deviations_file = layout.table_file("deviations", task_id, key)
    append_audit_record(
        layout.audit_log,
        {
            "event": "score",
            "who": {"user": _user(), "host": socket.gethostname(), "run_id": run_id},
            "task_id": task_id,
            "trainee_video": meta["video"],
            "trainee_key": key,
            "gold_video": gold_meta["video"],
            "gold_key": saved.gold_key,
            "score": result.score,
            "deviations": dict(c),
            "embedder": meta["embedder"],
            "adapter_version": adapter.version,
            "pipeline_version": __version__,
            "privacy_mask": settings.privacy_mask,
            "scored_at": scored_at.isoformat(),
            "inputs": {
                "trainee_sha256": meta["sha256"],
                "gold_sha256": gold_meta["sha256"],
                "trainee_embeddings_sha256": sha256_file(layout.clip_vectors("trainee", key)),
                "gold_embeddings_sha256": sha256_file(layout.clip_vectors("gold", saved.gold_key)),
            },
            "outputs": {
                "scores_sha256": sha256_file(scores_file),
                "deviations_sha256": sha256_file(deviations_file),
                "report_sha256": sha256_file(report),
            },
        },
    )
    summary = "\n".join(
        [f"**Score {result.score:.1f}** for `{meta['video']}` against `{gold_meta['video']}`", ""]
        + (
            [f"- {d.type} ({d.step_name or '-'}): {d.detail}" for d in result.deviations]
            or ["- no deviations"]
        )
    )
    timeline = timeline_png(
        [(m.step.index, m.step.start_sec, m.step.end_sec) for m in result.step_matches],
        [
            (m.step.index, m.trainee_start_sec, m.trainee_end_sec)
            for m in result.step_matches
            if m.found
        ],
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
        "task_id": task_id,
        "score": result.score,
        "num_deviations": len(result.deviations),
        "deviation_rows": len(result.deviations),
        **{f"num_{k}": v for k, v in c.items()},
        "summary": MetadataValue.md(summary),
        "report": MetadataValue.path(str(report)),
    }, version
