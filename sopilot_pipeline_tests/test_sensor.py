"""The watch-folder sensor ticking on a real folder with build_sensor_context."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from sopilot_pipeline.core.watch.keys import video_partition_key
from sopilot_pipeline.defs import build_definitions, work
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.sensors import watch_folder_sensor
from sopilot_pipeline.defs.work import GOLD_CHAIN


def _tick(instance: DagsterInstance, settings: SopilotSettings, cursor: str | None) -> SensorResult:
    ctx = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"settings": settings},
        definitions=build_definitions(settings),
    )
    return watch_folder_sensor(ctx)


def test_definitions_load() -> None:
    defs = build_definitions(SopilotSettings(data_dir="/tmp/sopilot-unused"))
    assert defs.resolve_job_def("score_trainee_video")
    assert defs.resolve_job_def("ingest_gold_video")
    assert defs.resolve_sensor_def("watch_folder_sensor")
    # the README's table of automations and their default state
    running = {
        "watch_folder_sensor": defs.resolve_sensor_def("watch_folder_sensor"),
        "sopilot_automation": defs.resolve_sensor_def("sopilot_automation"),
        "record_failed_runs": defs.resolve_sensor_def("record_failed_runs"),
        "nightly_adapter_training": defs.resolve_schedule_def("nightly_adapter_training"),
    }
    for name, definition in running.items():
        assert definition.default_status.value == "RUNNING", name
    assert defs.resolve_schedule_def("daily_retention").default_status.value == "STOPPED"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "gold_video",
        "gold_clip_embeddings",
        "gold_steps",
        "feature_adapter",
        "trainee_video",
        "trainee_clip_embeddings",
        "trainee_alignment",
        "trainee_score",
        "rejected_videos",
        "rejected_video",
        "task_summary",
        "clip_index",
    }


def test_sensor_waits_for_stable_files_and_keys_runs_by_content(
    tmp_path: Path, demo_watch: Path
) -> None:
    settings = SopilotSettings(data_dir=str(tmp_path))
    gold = tmp_path / "watch" / "Montage Ventil ü" / "gold"
    gold.mkdir(parents=True)
    shutil.copy(demo_watch / "assemble_valve" / "gold" / "gold.mp4", gold / "gold one.mp4")
    (gold / "readme.txt").write_text("not a video")
    growing = gold / "growing.mov"
    growing.write_bytes(b"partial")
    instance = DagsterInstance.ephemeral()

    first = _tick(instance, settings, None)
    assert not first.run_requests  # nothing has been seen twice yet

    with growing.open("ab") as fh:  # still being copied
        fh.write(b"more bytes")
    second = _tick(instance, settings, first.cursor)
    keys = [r.partition_key for r in second.run_requests]
    expected = video_partition_key("Montage Ventil ü", "gold one.mp4")
    assert keys == [expected]
    assert second.run_requests[0].run_key.startswith(f"gold:{expected}:")
    added = [k for req in second.dynamic_partitions_requests for k in req.partition_keys]
    assert added == [expected]
    assert json.loads(second.cursor)["files"]

    # the grown file is now stable; the first file's request is not sent again
    third = _tick(instance, settings, second.cursor)
    assert [r.partition_key for r in third.run_requests] == [
        video_partition_key("Montage Ventil ü", "growing.mov")
    ]
    assert not _tick(instance, settings, third.cursor).run_requests


def test_sensor_never_raises_on_vanishing_or_broken_files(tmp_path: Path) -> None:
    settings = SopilotSettings(data_dir=str(tmp_path))
    trainee = tmp_path / "watch" / "t" / "gold"  # golds run at once: no gold to wait for
    trainee.mkdir(parents=True)
    (trainee / "empty.mp4").write_bytes(b"")
    gone = trainee / "gone.mp4"
    gone.write_bytes(b"x" * 100)
    (trainee / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (trainee / "outside.mp4").symlink_to("/etc/hostname")
    instance = DagsterInstance.ephemeral()
    first = _tick(instance, settings, None)
    gone.unlink()
    second = _tick(instance, settings, first.cursor)
    # links out of the watch folder are requested too, to be rejected unread with a reason
    # links are never read: they run registration alone, which rejects them
    by_selection: dict[tuple, list[str]] = {}
    for r in second.run_requests:
        selection = tuple(a.to_user_string() for a in r.asset_selection)
        by_selection.setdefault(selection, []).append(r.partition_key)
    assert by_selection == {
        GOLD_CHAIN: [video_partition_key("t", "empty.mp4")],
        ("gold_video",): [video_partition_key("t", n) for n in ("dangling.mp4", "outside.mp4")],
    }


def _validate_code_location(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    repo = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate"]
        + ["-w", str(repo / "workspace.yaml")],
        cwd=repo,
        env={**os.environ, "SOPILOT_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_code_location_validates_and_refuses_bad_settings(tmp_path: Path) -> None:
    ok = _validate_code_location(tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "Validation successful" in ok.stderr + ok.stdout
    assert "BetaWarning" not in ok.stderr and "PreviewWarning" not in ok.stderr
    bad = _validate_code_location(tmp_path, SOPILOT_TARGET_FPS="500")
    assert bad.returncode != 0
    assert "SOPILOT_TARGET_FPS must be within 0.1-60" in bad.stderr + bad.stdout


def test_one_unplannable_file_does_not_fail_the_tick(
    tmp_path: Path, demo_watch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SopilotSettings(data_dir=str(tmp_path))
    gold = tmp_path / "watch" / "t" / "gold"
    gold.mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(demo_watch / "assemble_valve" / "gold" / "gold.mp4", gold / name)
    real_digest = work.sidecar_digest

    def broken_for_a(video: Path) -> str:  # a fault injected into planning one file
        if video.name == "a.mp4":
            raise RuntimeError("record written by hand")
        return real_digest(video)

    monkeypatch.setattr(work, "sidecar_digest", broken_for_a)
    instance = DagsterInstance.ephemeral()
    first = _tick(instance, settings, None)
    second = _tick(instance, settings, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [video_partition_key("t", "b.mp4")]


def test_descriptions_keep_their_placeholders_in_the_ui() -> None:
    """The UI renders descriptions as Markdown, where a bare ``<embedder>`` is an HTML tag
    and vanishes: placeholders must sit inside backticks."""
    defs = build_definitions(SopilotSettings(data_dir="/tmp/sopilot-unused"))
    graph = defs.resolve_asset_graph()
    texts = {k.to_user_string(): graph.get(k).description or "" for k in graph.get_all_asset_keys()}
    for sensor in defs.sensors or []:
        texts[sensor.name] = sensor.description or ""
    for schedule in defs.schedules or []:
        texts[schedule.name] = schedule.description or ""
    for name, text in texts.items():
        outside_code = re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"<[A-Za-z_]+>", outside_code), (name, text)


def test_every_table_column_is_described_in_the_ui() -> None:
    defs = build_definitions(SopilotSettings(data_dir="/tmp/sopilot-unused"))
    graph = defs.resolve_asset_graph()
    described = 0
    for key in graph.get_all_asset_keys():
        for name, entry in graph.get(key).metadata.items():
            schema = getattr(entry, "schema", entry)
            if name != "dagster/column_schema" and not name.endswith("_schema"):
                continue
            for column in schema.columns:
                assert column.description, (key.to_user_string(), name, column.name)
                described += 1
    assert described >= 40  # scores, deviations, steps, rejected_videos
