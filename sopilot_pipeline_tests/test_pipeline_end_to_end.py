"""The whole graph on rendered demo videos, through a real Dagster instance."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import AssetKey, DagsterRunStatus, RunsFilter
from pypdf import PdfReader

from sopilot_pipeline.core.outputs.report import SECTIONS
from sopilot_pipeline_tests.conftest import PipelineRun


def _scores(run: PipelineRun) -> pl.DataFrame:
    return pl.scan_parquet(
        str(run.data / "tables/scores/**/*.parquet"), hive_partitioning=True
    ).collect()


def _deviations(run: PipelineRun) -> pl.DataFrame:
    return pl.scan_parquet(
        str(run.data / "tables/deviations/**/*.parquet"), hive_partitioning=True
    ).collect()


def _steps(run: PipelineRun) -> pl.DataFrame:
    return pl.scan_parquet(
        str(run.data / "tables/steps/**/*.parquet"), hive_partitioning=True
    ).collect()


def _detected_step_of(run: PipelineRun, task: str, start: float, end: float) -> int:
    """The detected gold step overlapping most with a ground-truth gold segment."""
    steps = _steps(run).filter(pl.col("task_id") == task)
    overlap = [
        (min(end, r["end_sec"]) - max(start, r["start_sec"]), r["step"])
        for r in steps.iter_rows(named=True)
    ]
    return max(overlap)[1]


def test_every_run_succeeded(pipeline_run: PipelineRun) -> None:
    assert pipeline_run.outcome.failed_runs == []
    assert pipeline_run.outcome.already_done == 0  # a first pass finds nothing done
    runs = pipeline_run.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert runs == []


def test_videos_are_batched_into_few_runs(pipeline_run: PipelineRun) -> None:
    """14 videos (2 golds, 10 good and 2 bad trainees) in batched range runs, not one each."""
    instance = pipeline_run.instance
    runs = [
        r
        for r in instance.get_runs(RunsFilter(tags={"sopilot/launched_by": "process"}))
        if "sopilot/videos" in r.tags  # not the adapter training run
    ]
    assert 3 <= pipeline_run.outcome.succeeded_runs == len(runs) < 14
    assert any(int(r.tags["sopilot/videos"]) > 1 for r in runs)
    trainees = set(instance.get_dynamic_partitions("trainee_videos"))
    scored = instance.get_materialized_partitions(AssetKey("trainee_score"))
    registered = instance.get_materialized_partitions(AssetKey("trainee_video"))
    # a bad file in a batch costs its batch-mates nothing, and is never marked
    # materialised: it leaves the trainee partitions for those of rejected_video
    assert len(scored) == 10 and scored == registered == trainees
    rejected = set(instance.get_dynamic_partitions("rejected_videos"))
    assert len(rejected) == 2 and all("corrupt" in k or "notes" in k for k in rejected)
    assert instance.get_materialized_partitions(AssetKey("rejected_video")) == rejected


def test_all_good_trainees_scored_in_hive_tables(pipeline_run: PipelineRun) -> None:
    scores = _scores(pipeline_run)
    expected = {(t, name) for t, info in pipeline_run.truth.items() for name in info["trainees"]}
    assert set(zip(scores["task_id"], scores["trainee_video"], strict=True)) == expected
    assert scores["score"].is_between(0, 100).all()
    assert set(scores.columns) >= {
        "task_id",
        "trainee_video",
        "gold_video",
        "score",
        "num_gold_steps",
        "num_missing",
        "num_swapped",
        "num_over_time",
        "num_extra",
        "alignment_cost",
        "embedder",
        "adapter_version",
        "pipeline_version",
        "scored_at",
        "duplicate_of",
    }
    assert not scores["adapter_version"].str.contains("task-golds").any()


def test_missing_step_reported_for_the_right_gold_step(pipeline_run: PipelineRun) -> None:
    devs = _deviations(pipeline_run)
    for task, info in pipeline_run.truth.items():
        gold_segments = info["gold"]["segments"]
        for name, t in info["trainees"].items():
            for injected in t["deviations"]:
                if injected["type"] != "missing_step":
                    continue
                seg = gold_segments[injected["gold_step"]]
                step = _detected_step_of(pipeline_run, task, seg["start_sec"], seg["end_sec"])
                rows = devs.filter(
                    (pl.col("task_id") == task)
                    & (pl.col("trainee_video") == name)
                    & (pl.col("type") == "missing_step")
                )
                assert step in rows["gold_step"].to_list(), (task, name, rows)


def test_swapped_steps_reported(pipeline_run: PipelineRun) -> None:
    devs = _deviations(pipeline_run)
    for task, info in pipeline_run.truth.items():
        for name in info["trainees"]:
            if name.startswith("swapped"):
                rows = devs.filter((pl.col("task_id") == task) & (pl.col("trainee_video") == name))
                assert "swapped_step" in rows["type"].to_list(), (task, rows)


def test_clean_trainees_outscore_every_deviated_one(pipeline_run: PipelineRun) -> None:
    scores = _scores(pipeline_run)
    for task in pipeline_run.truth:
        s = scores.filter(pl.col("task_id") == task)
        clean = s.filter(pl.col("trainee_video").str.starts_with("clean"))["score"]
        deviated = s.filter(~pl.col("trainee_video").str.starts_with("clean"))["score"]
        assert len(clean) == 2 and len(deviated) == 3
        assert clean.min() > deviated.max(), s


def test_report_pages_render_with_keyframe_images(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    from PIL import Image

    pdf = next((pipeline_run.data / "reports").rglob("*missing_step*.pdf"))
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(SECTIONS)
    keyframes_page = PdfReader(pdf).pages[SECTIONS.index("Keyframes")]
    steps = len(
        _steps(pipeline_run)
        .filter(pl.col("gold_video") == "gold.mp4")
        .filter(pl.col("task_id") == pdf.parent.name)
    )
    images = keyframes_page.images
    # a gold frame per step, a trainee frame per step performed (one step is missing)
    assert len(images) == 2 * steps - 1
    rendered = np.asarray(Image.open(pages[SECTIONS.index("Keyframes")]).convert("L"))
    assert rendered.std() > 20  # real pictures on the page, not a blank one
    assert "not performed" in keyframes_page.extract_text()


def test_reports_are_pdfs_with_a_page_per_section(pipeline_run: PipelineRun) -> None:
    pdfs = sorted((pipeline_run.data / "reports").rglob("*.pdf"))
    assert len(pdfs) == 10
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF")
        reader = PdfReader(pdf)
        assert len(reader.pages) == len(SECTIONS)
        for page, section in zip(reader.pages, SECTIONS, strict=True):
            assert section in page.extract_text()


def test_bad_files_rejected_with_reason_and_nothing_else_lost(pipeline_run: PipelineRun) -> None:
    rejected = pl.read_parquet(
        str(pipeline_run.data / "tables/rejected_videos/**/*.parquet"), hive_partitioning=True
    )
    by_video = dict(zip(rejected["video"], rejected["reason"], strict=True))
    assert set(by_video) == {"corrupt.mp4", "notes.MP4"}
    assert all(reason for reason in by_video.values())
    assert len(_scores(pipeline_run)) == 10
    # the rejection is visible on the asset in Dagster, too
    records = pipeline_run.instance.fetch_observations(AssetKey("trainee_video"), limit=50)
    reasons = [r.asset_observation.metadata["reason"].value for r in records.records]
    assert len(reasons) == 2
    # and on the rejected_videos asset, which each rejection materialises with the count
    seen = pipeline_run.instance.fetch_materializations(AssetKey("rejected_videos"), limit=50)
    per_rejection = [r for r in seen.records if "video" in r.asset_materialization.metadata]
    assert sorted(r.asset_materialization.metadata["video"].value for r in per_rejection) == [
        "corrupt.mp4",
        "notes.MP4",
    ]
    summary = pipeline_run.instance.get_latest_materialization_event(AssetKey("rejected_videos"))
    assert summary.asset_materialization.metadata["dagster/row_count"].value == 2


def test_process_is_idempotent(pipeline_run: PipelineRun) -> None:
    from sopilot_pipeline.process import process_watch_folder

    before = _scores(pipeline_run).sort("task_id", "trainee_video")
    outcome = process_watch_folder(
        settle_seconds=0.1, settings=pipeline_run.settings, instance=pipeline_run.instance
    )
    assert outcome.succeeded_runs == 0 and not outcome.failed_runs
    assert outcome.already_done == 12  # 2 golds and 10 trainees; the 2 rejected are not done
    after = _scores(pipeline_run).sort("task_id", "trainee_video")
    assert after.equals(before)


@pytest.mark.parametrize("table", ["scores", "deviations", "steps"])
def test_duckdb_reads_tables(pipeline_run: PipelineRun, table: str) -> None:
    import duckdb

    glob = str(pipeline_run.data / "tables" / table / "**" / "*.parquet")
    n = duckdb.sql(f"select count(*) from read_parquet('{glob}', hive_partitioning=true)")
    assert n.fetchall()[0][0] > 0


def test_task_summary_matches_the_tables(pipeline_run: PipelineRun) -> None:
    summary = pl.read_parquet(pipeline_run.data / "tables/task_summary/task_summary.parquet")
    scores = _scores(pipeline_run)
    assert sorted(summary["task_id"]) == sorted(pipeline_run.truth)
    for row in summary.iter_rows(named=True):
        task = scores.filter(pl.col("task_id") == row["task_id"])
        assert row["trainees"] == len(task) == 5
        assert row["mean_score"] == pytest.approx(task["score"].mean())
        assert sum(row[f"scores_{b}_{b + 20}"] for b in range(0, 100, 20)) == len(task)
        assert "missing_step step" in row["top_deviations"]
    event = pipeline_run.instance.get_latest_materialization_event(AssetKey("task_summary"))
    assert "| task | trainees |" in event.asset_materialization.metadata["summary"].value


def test_table_schemas_are_declared_for_the_ui(pipeline_run: PipelineRun) -> None:
    from sopilot_pipeline.defs import build_definitions

    graph = build_definitions(pipeline_run.settings).resolve_asset_graph()
    schema = graph.get(AssetKey("trainee_score")).metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns][:4] == [
        "task_id",
        "trainee_video",
        "gold_video",
        "score",
    ]
    steps = graph.get(AssetKey("gold_steps")).metadata["dagster/column_schema"]
    assert [c.name for c in steps.columns] == [
        "task_id",
        "gold_video",
        "step",
        "start_sec",
        "end_sec",
        "step_name",
    ]


def test_deviation_clips_are_cut_and_linked(pipeline_run: PipelineRun) -> None:
    from sopilot_pipeline.core.outputs.clips import MAX_SEC, PAD_SEC
    from sopilot_pipeline.core.video.decode import decode_video

    devs = _deviations(pipeline_run)
    assert len(devs) > 0
    for d in devs.iter_rows(named=True):
        if d["type"] == "missing_step":  # not performed: only the gold step to show
            assert d["trainee_clip"] is None and d["gold_clip"]
        for side in ("trainee", "gold"):
            path, start = d[f"{side}_clip"], d[f"{side}_start_sec"]
            if start is None:
                assert path is None
                continue
            video = decode_video(pipeline_run.data / path).probe
            span = d[f"{side}_end_sec"] - start
            # the deviation itself, plus up to a second either side (less at the ends)
            longest = min(span + 2 * PAD_SEC, MAX_SEC)
            assert min(span, MAX_SEC) - 0.2 <= video.duration_sec <= longest + 0.2, (path, span)
    pdf = next((pipeline_run.data / "reports").rglob("*missing_step*.pdf"))
    page = PdfReader(pdf).pages[SECTIONS.index("Deviations")]
    uris = [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", [])]
    assert uris and all(
        u.startswith("../../clips/") and u.endswith("_gold.mp4") or u.endswith("_trainee.mp4")
        for u in uris
    )
    assert all((pdf.parent / u).exists() for u in uris)
