"""Bad input, each case a real file: it is scored where that makes sense, otherwise
rejected with a reason, and it never costs another video its score."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

from sopilot_pipeline.core.watch.keys import video_partition_key
from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.sensors import watch_folder_sensor
from sopilot_pipeline.process import ProcessOutcome, process_watch_folder

TASK = "Montage .. Ventil ü"  # spaces, `..` and unicode in the task id
LONG_NAME = "trainee " + "x" * 230 + ".mp4"  # 243 bytes: near the file-system limit
SCORED = [
    "good.mp4",
    "same content again.mp4",  # the same bytes under another name
    "index first, truncated.mp4",
    "garbage mid-file.mp4",
    "one frame.mp4",
    "shorter than a clip.mp4",
    "probe .. ü v1.mp4",
    LONG_NAME,
]
REJECTED = {
    "empty.mp4": "empty file",
    "text.mp4": "not a readable video container",
    "index at end, truncated.mp4": "not a readable video container",
    "absurd fps.mp4": "implausible frame timing",
    "zero timescale.mp4": "frame rate unknown",
    "outside link.mp4": "leads outside the watch folder",
}


def _encode(
    path: Path,
    frames: int,
    rate: Fraction = Fraction(15),
    tb: Fraction | None = None,
    pts_step: int | None = None,
) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        if tb is not None:
            stream.codec_context.time_base = tb
        for i in range(frames):
            img = np.full((120, 160, 3), (i * 9) % 255, np.uint8)
            img[40:80, (i * 4) % 120 : (i * 4) % 120 + 40] = (200, 30, 30)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_step is not None:
                frame.pts, frame.time_base = i * pts_step, tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _faststart_copy(src: Path, dst: Path) -> None:
    """The same video remuxed with its index (moov) before the data."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)


@dataclass
class BadInputRun:
    settings: SopilotSettings
    instance: DagsterInstance
    outcome: ProcessOutcome
    outside: Path
    outside_before: dict[str, bytes]


@pytest.fixture(scope="module")
def bad_input_run(demo_watch: Path, tmp_path_factory: pytest.TempPathFactory) -> BadInputRun:
    root = tmp_path_factory.mktemp("bad")
    data = root / "data"
    gold_dir = data / "watch" / TASK / "gold"
    trainee = data / "watch" / TASK / "trainee"
    gold_dir.mkdir(parents=True)
    trainee.mkdir(parents=True)
    shutil.copy(demo_watch / "assemble_valve" / "gold" / "gold.mp4", gold_dir / "gold.mp4")
    good = demo_watch / "assemble_valve" / "trainee" / "clean_1.mp4"
    for name in ("good.mp4", "same content again.mp4", "probe .. ü v1.mp4", LONG_NAME):
        shutil.copy(good, trainee / name)
    body = good.read_bytes()
    (trainee / "empty.mp4").write_bytes(b"")
    (trainee / "text.mp4").write_text("minutes of the safety meeting\n" * 40)
    (trainee / "index at end, truncated.mp4").write_bytes(body[: int(len(body) * 0.6)])
    _faststart_copy(good, root / "faststart.mp4")
    fast = (root / "faststart.mp4").read_bytes()
    (trainee / "index first, truncated.mp4").write_bytes(fast[: int(len(fast) * 0.6)])
    garbled = bytearray(body)
    rng = np.random.default_rng(5)
    middle = len(garbled) // 2
    garbled[middle : middle + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    (trainee / "garbage mid-file.mp4").write_bytes(bytes(garbled))
    _encode(trainee / "absurd fps.mp4", 40, Fraction(90000), Fraction(1, 90000), 1)
    _encode(root / "slow.mp4", 40, Fraction(1), Fraction(1))
    zero = bytearray((root / "slow.mp4").read_bytes())
    at = zero.find(b"mdhd")
    zero[at + 16 : at + 20] = bytes(4)  # media timescale 0
    (trainee / "zero timescale.mp4").write_bytes(bytes(zero))
    _encode(trainee / "one frame.mp4", 1)
    _encode(trainee / "shorter than a clip.mp4", 5)  # 0.33 s: less than one 1 s clip
    outside = root / "outside"
    outside.mkdir()
    shutil.copy(good, outside / "secret.mp4")
    (trainee / "outside link.mp4").symlink_to(outside / "secret.mp4")
    outside_before = {p.name: p.read_bytes() for p in outside.iterdir()}

    settings = SopilotSettings(data_dir=str(data))
    home = root / "dagster_home"
    home.mkdir()
    instance = DagsterInstance.local_temp(str(home))
    outcome = process_watch_folder(settle_seconds=0.1, settings=settings, instance=instance)
    return BadInputRun(settings, instance, outcome, outside, outside_before)


def _scores(run: BadInputRun) -> pl.DataFrame:
    return pl.read_parquet(
        str(Path(run.settings.data_dir) / "tables/scores/**/*.parquet"), hive_partitioning=True
    )


def _rejections(run: BadInputRun) -> dict[str, str]:
    rows = pl.read_parquet(
        str(Path(run.settings.data_dir) / "tables/rejected_videos/**/*.parquet"),
        hive_partitioning=True,
    )
    return dict(zip(rows["video"], rows["reason"], strict=True))


def test_no_run_failed_and_every_file_has_an_outcome(bad_input_run: BadInputRun) -> None:
    assert bad_input_run.outcome.failed_runs == []
    scored = set(_scores(bad_input_run)["trainee_video"])
    rejected = set(_rejections(bad_input_run))
    assert scored | rejected == set(SCORED) | set(REJECTED)
    assert not scored & rejected


@pytest.mark.parametrize("name", SCORED)
def test_sensible_files_are_scored(bad_input_run: BadInputRun, name: str) -> None:
    scores = _scores(bad_input_run).filter(pl.col("trainee_video") == name)
    assert len(scores) == 1
    assert scores["task_id"][0] == TASK
    assert 0 <= scores["score"][0] <= 100
    key = video_partition_key(TASK, name)
    assert key in bad_input_run.instance.get_materialized_partitions(AssetKey("trainee_score"))


@pytest.mark.parametrize(("name", "reason"), sorted(REJECTED.items()))
def test_unusable_files_are_rejected_with_a_reason(
    bad_input_run: BadInputRun, name: str, reason: str
) -> None:
    assert reason in _rejections(bad_input_run)[name]
    key = video_partition_key(TASK, name)
    assert key not in bad_input_run.instance.get_materialized_partitions(AssetKey("trainee_score"))


def test_the_good_video_scores_the_same_as_its_copies(bad_input_run: BadInputRun) -> None:
    scores = dict(_scores(bad_input_run).select("trainee_video", "score").iter_rows())
    for copy in ("same content again.mp4", "probe .. ü v1.mp4", LONG_NAME):
        assert scores[copy] == pytest.approx(scores["good.mp4"])
    # byte-identical copies are scored, and flagged as copies of the first registered
    duplicates = dict(_scores(bad_input_run).select("trainee_video", "duplicate_of").iter_rows())
    assert duplicates.pop("good.mp4") is None
    for copy in ("same content again.mp4", "probe .. ü v1.mp4", LONG_NAME):
        assert duplicates.pop(copy) == f"{TASK}/trainee/good.mp4"
    assert set(duplicates.values()) == {None}


def test_nothing_outside_the_data_folder_was_touched(bad_input_run: BadInputRun) -> None:
    outside = bad_input_run.outside
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == bad_input_run.outside_before
    data = Path(bad_input_run.settings.data_dir)
    assert sorted(p.name for p in data.parent.iterdir()) == [
        "dagster_home",
        "data",
        "faststart.mp4",
        "outside",
        "slow.mp4",
    ]


def test_a_file_deleted_between_tick_and_run_is_rejected(demo_watch: Path, tmp_path: Path) -> None:
    settings = SopilotSettings(data_dir=str(tmp_path / "data"))
    gold = tmp_path / "data" / "watch" / "t" / "gold"
    gold.mkdir(parents=True)
    shutil.copy(demo_watch / "assemble_valve" / "gold" / "gold.mp4", gold / "v.mp4")
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(settings)

    def tick(cursor: str | None):  # noqa: ANN202
        context = build_sensor_context(
            instance=instance, cursor=cursor, resources={"settings": settings}, definitions=defs
        )
        return watch_folder_sensor(context)

    first = tick(None)
    second = tick(first.cursor)
    for req in second.dynamic_partitions_requests:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    (request,) = second.run_requests
    (gold / "v.mp4").unlink()  # gone before the run starts
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        raise_on_error=False,
    )
    assert result.success
    rows = pl.read_parquet(str(tmp_path / "data/tables/rejected_videos/**/*.parquet"))
    assert rows["reason"].to_list() == ["file no longer in the watch folder"]
    tick(second.cursor)  # and the next tick copes with the missing file
