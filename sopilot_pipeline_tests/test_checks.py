"""Asset checks: they pass on a real run and catch what they are for."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from dagster import AssetKey, DagsterEventType, DagsterInstance

from sopilot_pipeline.core.store.embeddings import load_trainee_alignment, save_trainee_alignment
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.defs.checks import alignment_problem, embeddings_problem, score_problem
from sopilot_pipeline_tests.conftest import PipelineRun

CHECKS = {
    "trainee_embeddings_are_finite",
    "trainee_alignment_is_a_valid_path",
    "trainee_score_is_consistent",
}
REJECTION_CHECKS = {"video_is_readable", "video_decodes"}  # warnings, failed by a bad file


def test_every_check_ran_and_passed(pipeline_run: PipelineRun) -> None:
    instance = pipeline_run.instance
    evaluations = [
        e.dagster_event.event_specific_data
        for run in instance.get_runs()
        for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert {ev.check_name for ev in evaluations} == CHECKS | REJECTION_CHECKS
    guards = [ev for ev in evaluations if ev.check_name in CHECKS]
    assert all(ev.passed for ev in guards), [
        (ev.check_name, ev.metadata) for ev in guards if not ev.passed
    ]
    # the two bad trainee files of the fixture fail the registration check, as a warning
    # on each one's own partition with its reason; every other evaluation passes, and
    # every registered video has its own passed evaluation
    warned = [ev for ev in evaluations if not ev.passed]
    assert {ev.check_name for ev in warned} == {"video_is_readable"}
    assert all(ev.severity.value == "WARN" for ev in warned)
    listed = "".join(f"{ev.partition}: {ev.metadata['rejected'].value}" for ev in warned)
    assert "corrupt" in listed and "notes" in listed
    passed = {ev.partition for ev in evaluations if ev.check_name in REJECTION_CHECKS and ev.passed}
    registered = {p.stem for p in (pipeline_run.data / "raw" / "trainee").glob("*.json")}
    assert registered and registered <= passed
    assert not {ev.partition for ev in warned} & registered
    summary = instance.get_latest_materialization_event(AssetKey("rejected_videos"))
    assert summary.asset_materialization.metadata["dagster/row_count"].value == 2


def test_checks_catch_broken_artefacts(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    shutil.copytree(pipeline_run.data, tmp_path / "data", symlinks=True)
    layout = DataLayout(tmp_path / "data")
    key = sorted(p.stem for p in (layout.embeddings / "trainee").glob("*.npy"))[0]
    assert embeddings_problem(layout, key) is None
    assert alignment_problem(layout, key) is None
    assert score_problem(layout, key) is None

    vectors = np.load(layout.clip_vectors("trainee", key))
    np.save(layout.clip_vectors("trainee", key), vectors[:, :-3])
    assert "dims, expected" in embeddings_problem(layout, key)
    np.save(layout.clip_vectors("trainee", key), vectors[:1])
    assert "1 vectors but" in embeddings_problem(layout, key)
    np.save(layout.clip_vectors("trainee", key), vectors)  # whole again for what follows

    embedder = "heuristic-v5"
    saved = load_trainee_alignment(layout, key, embedder)
    backwards = saved.path[::-1].copy()
    save_trainee_alignment(layout, key, saved.__class__(**{**saved.__dict__, "path": backwards}))
    assert "back in trainee time" in alignment_problem(layout, key)
    cut = saved.path[:-3].copy()  # stops short of the last explained step's end
    save_trainee_alignment(layout, key, saved.__class__(**{**saved.__dict__, "path": cut}))
    assert "does not run from the first to the last" in alignment_problem(layout, key)


def test_alignment_preview_is_a_png_of_the_path() -> None:
    import base64
    import io

    from PIL import Image

    from sopilot_pipeline.core.outputs.preview import alignment_png, markdown_image

    cost = np.ones((50, 80))
    path = np.array([(i * 49 // 79, i) for i in range(80)])
    png = alignment_png(cost, path)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape == (50, 80, 3)
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    assert red[0, :3].any() and red[-1, -3:].any()  # the path runs corner to corner
    assert markdown_image(png, "x").startswith("![x](data:image/png;base64,")
    assert base64.b64decode(markdown_image(png, "x")[27:-1]) == png


def test_the_alignment_preview_of_long_videos_samples_clips() -> None:
    """Short videos: the full cost matrix, as before; long ones: every k-th clip, the
    same picture size, the path still corner to corner."""
    import io

    from PIL import Image

    from sopilot_pipeline.core.align.dtw import cosine_cost
    from sopilot_pipeline.core.outputs.preview import alignment_png, alignment_preview_png

    rng = np.random.default_rng(0)
    gold, trainee = rng.normal(size=(100, 8)), rng.normal(size=(160, 8))
    path = np.array([(i * 99 // 159, i) for i in range(160)])
    assert alignment_preview_png(gold, trainee, path) == alignment_png(
        cosine_cost(gold, trainee), path
    )
    gold, trainee = rng.normal(size=(3000, 8)), rng.normal(size=(4000, 8))
    path = np.array([(i * 2999 // 3999, i) for i in range(4000)])
    image = np.asarray(Image.open(io.BytesIO(alignment_preview_png(gold, trainee, path))))
    assert max(image.shape[:2]) == 240
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    assert red[:3, :3].any() and red[-3:, -3:].any()


def test_timeline_preview_draws_both_rows() -> None:
    import io

    from PIL import Image

    from sopilot_pipeline.core.outputs.preview import timeline_png

    png = timeline_png(
        [(0, 0.0, 5.0), (1, 5.0, 10.0)], [(0, 0.0, 6.0)], [("missing_step", 5.0, 10.0, False)]
    )
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert image.shape == (104, 480, 3)
    plot = image[:, 56:470]  # right of the row labels
    gold_row, trainee_row = plot[15], plot[45]
    assert (np.abs(gold_row - 255).sum(axis=1) > 60).sum() > 380  # both gold steps drawn
    assert 220 < (np.abs(trainee_row - 255).sum(axis=1) > 60).sum() < 270  # 6 of 10 s
    assert (plot[28:33, 220:400] == (214, 39, 40)).all(axis=2).any()  # the missing mark
    labels = image[:36, :50]  # "gold" and "trainee" written left of the rows
    assert (labels[8:26].sum(axis=2) < 400).any() and (image[38:56, :50].sum(axis=2) < 400).any()
    assert (image[64, 56:470] < 200).all()  # the time axis
    assert (image[88:97, 56:66] == (214, 39, 40)).all(axis=2).any()  # legend: missing step


def test_materialising_a_video_from_the_ui_runs_its_readable_check(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    """What Materialize on a ``trainee_video`` partition runs: the asset and its checks.
    A rejected video fails the check again with its reason (the asset's own verdict;
    the check step is skipped, having no output to check); a good video passes both the
    asset's verdict and the check step, which reads the registration and rejections."""
    from dagster import AssetCheckKey

    from sopilot_pipeline.defs import build_definitions
    from sopilot_pipeline.defs.partitions import trainee_videos

    layout = DataLayout(pipeline_run.data)
    rejected = sorted(p.stem for p in (layout.tables / "rejected_videos").rglob("*.parquet"))
    registered = sorted(p.stem for p in (layout.raw / "trainee").glob("*.json"))
    check = AssetCheckKey(AssetKey("trainee_video"), "video_is_readable")
    job = (
        build_definitions(pipeline_run.settings)
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={AssetKey("trainee_video")}, asset_check_selection={check})
    )
    instance = DagsterInstance.local_temp(str(tmp_path))  # the shared instance stays as it was
    instance.add_dynamic_partitions(trainee_videos.name, [rejected[0], registered[0]])
    for key, passed, evaluations in ((rejected[0], False, 1), (registered[0], True, 2)):
        result = job.execute_in_process(instance=instance, partition_key=key)
        found = result.get_asset_check_evaluations()
        assert len(found) == evaluations
        assert all(e.passed is passed and e.partition == key for e in found)
        if not passed:
            assert "corrupt" in key or "notes" in key
            assert found[0].metadata["rejected"].value  # the reason, as recorded
