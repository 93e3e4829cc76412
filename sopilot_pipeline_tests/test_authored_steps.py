"""Authored steps (``<stem>.steps.csv`` beside a gold): parsing, every bad sidecar, and
names and weights through the real pipeline on rendered videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance
from pypdf import PdfReader

from sopilot_pipeline.core.segment.authored_steps import (
    SidecarError,
    authored_gold_steps,
    parse_steps_csv,
    sidecar_path,
)
from sopilot_pipeline.core.segment.steps import (
    steps_from_boundaries,
    steps_from_spans,
    tiled_steps,
)
from sopilot_pipeline.core.store.embeddings import gold_keys_for_task, load_steps
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder

GOOD = b'start_sec,end_sec,name,weight\n0,2.5,pick gasket,1\n2.5,5,"seat gasket, press",3\n'


def test_good_sidecar_parses_names_weights_and_quoting() -> None:
    steps = parse_steps_csv(GOOD, duration_sec=5.2)
    assert [(s.start_sec, s.end_sec, s.name, s.weight) for s in steps] == [
        (0.0, 2.5, "pick gasket", 1.0),
        (2.5, 5.0, "seat gasket, press", 3.0),
    ]
    assert [s.line for s in steps] == [2, 3]


def test_weight_is_optional_and_bom_columns_any_order_and_unicode() -> None:
    data = "\ufeffname,end_sec,start_sec\nÖl prüfen,1.5,0\n締める,4,2\n".encode()
    steps = parse_steps_csv(data, duration_sec=4.0)
    assert [(s.name, s.start_sec, s.end_sec, s.weight) for s in steps] == [
        ("Öl prüfen", 0.0, 1.5, 1.0),
        ("締める", 2.0, 4.0, 1.0),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"start_sec,end_sec,name\n0,3,a\n2,5,b\n",
            "line 3: starts at 2 s, before the step on line 2",
        ),
        (b"start_sec,end_sec,name\n3,5,a\n0,2,b\n", "line 3: starts at 0 s"),
        (b"start_sec,end_sec,name\n0,3,a\n3,9,b\n", "line 3: end_sec 9 is past the end"),
        (b"start_sec,end_sec,name\n-1,3,a\n", "line 2: start_sec -1 is before the video"),
        (b"start_sec,end_sec,name\n0,abc,a\n", "line 2: end_sec 'abc' is not a number"),
        (b"start_sec,end_sec,name\nnan,3,a\n", "line 2: start_sec 'nan' is not a finite"),
        (b"start_sec,end_sec,name\n0,inf,a\n", "line 2: end_sec 'inf' is not a finite"),
        (b"start_sec,end_sec,name\n2,2,a\n", "line 2: end_sec 2 is not after start_sec 2"),
        (b"start_sec,end_sec,name\n0,2,\n", "line 2: the step has no name"),
        (b"start_sec,end_sec,name\n0,2,a,extra\n", "line 2: 4 fields where the header has 3"),
        (b"start,end,name\n0,2,a\n", "line 1: header 'start,end,name' lacks column(s) start_sec"),
        (b"start_sec,end_sec,name,weight\n0,2,a,0\n", "line 2: weight 0 is not in"),
        (b"start_sec,end_sec,name,weight\n0,2,a,-3\n", "line 2: weight -3 is not in"),
        (b"start_sec,end_sec,name,weight\n0,2,a,heavy\n", "line 2: weight 'heavy' is not a number"),
        (b"start_sec,end_sec,name\n0,2,a\n\n2,4,\xff\xfe\n", "line 4: not UTF-8"),
        (b"\x00\x01binary\x00", "not a text file"),
        (b"", "empty file"),
        (b"start_sec,end_sec,name\n", "no steps: only the header on line 1"),
        (b"start_sec,end_sec,name,name\n0,1,a,b\n", "line 1: a column is named twice"),
        (b'start_sec,end_sec,name\n0,1,"unterminated\n', "not valid CSV"),
    ],
)
def test_every_bad_sidecar_says_which_line_and_why(data: bytes, message: str) -> None:
    with pytest.raises(SidecarError) as err:
        parse_steps_csv(data, duration_sec=5.0)
    assert message in str(err.value)


def test_a_step_too_short_for_its_own_clip_is_refused_on_its_line() -> None:
    clip_starts = np.arange(0, 10, 0.5)
    # clips stand for 0.5-s strides centred at 0.25, 0.75, ...: none is centred in 3.3-3.7
    steps = parse_steps_csv(b"start_sec,end_sec,name\n0,3.3,a\n3.3,3.7,b\n3.7,6,c\n", 10.0)
    with pytest.raises(SidecarError, match="line 3: no clip is centred inside 3.3-3.7 s"):
        authored_gold_steps(steps, clip_starts)
    ok = authored_gold_steps(steps[:1] + steps[2:], clip_starts)
    assert [(s.start_clip, s.end_clip, s.name) for s in ok] == [(0, 7, "a"), (7, 12, "c")]


def test_a_clip_that_starts_just_before_an_authored_step_is_that_steps() -> None:
    """The clip starting at 2.5 s stands for 2.5-3.0 s, mostly the second step's (which
    a slow trainee's slow start from rest matched, read as the first step's)."""
    clip_starts = np.arange(0, 10, 0.5)
    steps = parse_steps_csv(b"start_sec,end_sec,name\n0,2.6,a\n2.6,6,b\n", 10.0)
    got = authored_gold_steps(steps, clip_starts)
    assert [(s.start_clip, s.end_clip) for s in got] == [(0, 5), (5, 12)]
    detected = steps_from_boundaries(np.array([5]), clip_starts, clip_starts + 1.0)
    read_back = steps_from_spans([(s.start_sec, s.end_sec, "", 1.0) for s in detected], clip_starts)
    assert [(s.start_clip, s.end_clip) for s in read_back] == [(0, 5), (5, 20)]


def test_authored_steps_are_scored_as_tiles_the_rest_left_out_included() -> None:
    """An author who leaves the rest out of every step (between steps, at the start and
    the end) still gets steps that run on to where the next begins, as a trainee's
    pause is counted in the step before it; the steps table keeps the author's times."""
    clip_starts = np.arange(0, 10, 0.5)
    sidecar = b"start_sec,end_sec,name\n0.4,2.6,a\n3.1,5.9,b\n6.4,8.8,c\n"
    authored = authored_gold_steps(parse_steps_csv(sidecar, 10.0), clip_starts)
    assert [(s.start_sec, s.end_sec) for s in authored] == [(0.4, 2.6), (3.1, 5.9), (6.4, 8.8)]
    scored = tiled_steps(authored, clip_starts, clip_starts + 1.0)
    assert [(s.start_sec, s.end_sec) for s in scored] == [(0.0, 3.1), (3.1, 6.4), (6.4, 10.5)]
    assert [(s.start_clip, s.end_clip) for s in scored] == [(0, 6), (6, 13), (13, 20)]
    assert [(s.name, s.weight) for s in scored] == [(s.name, s.weight) for s in authored]


def test_sidecar_path_is_beside_the_video_with_the_stem() -> None:
    assert sidecar_path(Path("w/t/gold/my.gold.v2.MP4")) == Path("w/t/gold/my.gold.v2.steps.csv")


STEP_NAMES = ["fetch valve body", "insert spring", "seat gasket", "thread cap", "torque cap"]


def _write_sidecar(
    gold: Path, segments: list[dict], weights: list[float], names: list[str] = STEP_NAMES
) -> None:
    lines = ["start_sec,end_sec,name,weight"]
    for seg, name, w in zip(segments, names, weights, strict=True):
        lines.append(f"{seg['start_sec']:.3f},{seg['end_sec']:.3f},{name},{w:g}")
    sidecar_path(gold).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _table(data: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(str(data / f"tables/{name}/**/*.parquet"), hive_partitioning=True)


def test_authored_steps_name_and_weigh_everything_and_a_change_rescores(
    demo_watch: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    task = "assemble_valve"
    shutil.copytree(demo_watch / task, data / "watch" / task)
    truth = json.loads((demo_watch / "demo_ground_truth.json").read_text())[task]
    segments = truth["gold"]["segments"]
    missing = next(n for n in truth["trainees"] if n.startswith("missing_step"))
    missed = int(missing.removesuffix(".mp4").rsplit("_", 1)[1]) - 1
    weights = [1.0] * len(segments)
    weights[missed] = 3.0
    gold = data / "watch" / task / "gold" / "gold.mp4"
    _write_sidecar(gold, segments, weights)
    # a second task whose gold has a broken sidecar: rejected, and nothing else affected
    other = data / "watch" / "broken_sidecar_task"
    shutil.copytree(demo_watch / "pack_first_aid_kit", other)
    sidecar_path(other / "gold" / "gold.mp4").write_text("start_sec,end_sec,name\n0,2,a\n1,3,b\n")

    settings = SopilotSettings(data_dir=str(data))
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    assert outcome.failed_runs == []

    steps = _table(data, "steps")
    assert steps.columns[-1] == "step_name"
    embedder = settings.embedder.name
    (gold_key,) = gold_keys_for_task(settings.layout, task, embedder)
    scored = load_steps(settings.layout, task, gold_key)  # as tiles: no gold clip left out
    assert scored[0].start_clip == 0
    assert all(a.end_clip == b.start_clip for a, b in zip(scored, scored[1:], strict=False))
    assert steps.filter(pl.col("task_id") == task)["step_name"].to_list() == STEP_NAMES
    assert steps.filter(pl.col("task_id") == "broken_sidecar_task").height == 0
    rejected = _table(data, "rejected_videos").filter(pl.col("task_id") == "broken_sidecar_task")
    assert rejected["role"].to_list() == ["gold"]
    assert "gold.steps.csv: line 3: starts at 1 s" in rejected["reason"][0]

    scores = _table(data, "scores")
    assert set(scores["task_id"]) == {task}  # the broken task's trainees wait for a gold
    devs = _table(data, "deviations").filter(pl.col("trainee_video") == missing)
    assert devs.columns[-1] == "step_name"
    miss = devs.filter(pl.col("type") == "missing_step")
    assert miss["gold_step"].to_list() == [missed]
    assert miss["step_name"].to_list() == [STEP_NAMES[missed]]
    assert f"'{STEP_NAMES[missed]}'" in miss["detail"][0]
    missing_score = scores.filter(pl.col("trainee_video") == missing)["score"][0]
    assert missing_score <= 100 - 15 * 3  # the critical step costs three times the points

    report = next((data / "reports" / task).glob("*missing_step*.pdf"))
    text = "".join(page.extract_text() for page in PdfReader(report).pages)
    for name in STEP_NAMES:
        assert name in text

    # the author renames a step and lowers its weight: the gold's steps and every trainee
    # of the task are redone, on the next pass, with nothing else touched
    weights[missed] = 1.0
    _write_sidecar(gold, segments, weights, ["fetch the valve body", *STEP_NAMES[1:]])
    again = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    assert again.failed_runs == []
    assert again.succeeded_runs >= 2  # the gold, then its trainees
    steps = _table(data, "steps").filter(pl.col("task_id") == task)
    assert steps["step_name"][0] == "fetch the valve body"
    rescored = _table(data, "scores").filter(pl.col("trainee_video") == missing)["score"][0]
    assert rescored > missing_score
    assert rescored == pytest.approx(missing_score + 30, abs=0.01)


def test_step_method_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPILOT_STEP_METHOD", "kernel")
    assert SopilotSettings.from_env().step_detection.method == "kernel"
    monkeypatch.setenv("SOPILOT_STEP_METHOD", "magic")
    with pytest.raises(Exception, match="SOPILOT_STEP_METHOD must be one of auto, rest"):
        SopilotSettings.from_env()
