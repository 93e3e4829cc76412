"""Load: a thousand files dropped at once are registered across sensor ticks, each tick
well inside the sensor's time limit, each file requested exactly once, in range runs."""

from __future__ import annotations

import time
from pathlib import Path

from dagster import DagsterInstance, RunRequest, build_sensor_context
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.defs.sensors import watch_folder_sensor

SENSOR_TIME_LIMIT_SEC = 60.0  # Dagster's default sensor timeout


def test_a_thousand_files_are_requested_once_each_within_the_tick_limit(tmp_path: Path) -> None:
    settings = SopilotSettings(
        data_dir=str(tmp_path / "data"), sensor_max_requests=300, sensor_hash_seconds=0.02
    )
    for task in range(10):
        folder = tmp_path / "data" / "watch" / f"task {task:02d}" / "gold"
        folder.mkdir(parents=True)
        for i in range(100):  # small generated files: the sensor never decodes them
            (folder / f"clip {i:03d}.mp4").write_bytes(f"{task}-{i}".encode() * 20000)
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    cursor, seen, ticks, slowest, per_tick = None, [], 0, 0.0, []
    partitions: list[str] = []
    while ticks < 100:
        context = build_sensor_context(
            instance=instance, cursor=cursor, resources={"settings": settings}, definitions=defs
        )
        started = time.perf_counter()
        result = watch_folder_sensor(context)
        slowest = max(slowest, time.perf_counter() - started)
        ticks += 1
        cursor = result.cursor
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            partitions.extend(req.partition_keys)
        keys = [k for r in result.run_requests for k in _keys(instance, r)]
        assert len(keys) <= 300  # videos per tick
        assert all(len(_keys(instance, r)) <= 32 for r in result.run_requests)
        seen.extend(keys)
        per_tick.append(len(keys))
        if len(seen) == 1000 and not result.run_requests:
            break
    assert len(seen) == 1000 and len(set(seen)) == 1000  # every file once: no duplicate run
    assert len(partitions) == len(set(partitions)) == 1000
    assert set(instance.get_dynamic_partitions("gold_videos")) == set(partitions)
    assert sum(1 for n in per_tick if n) >= 4  # 300 a tick at most: several ticks
    assert slowest < SENSOR_TIME_LIMIT_SEC / 4


def _keys(instance: DagsterInstance, request: RunRequest) -> list[str]:
    """The partitions a run request covers: its key, or its range."""
    if request.partition_key:
        return [request.partition_key]
    keys = instance.get_dynamic_partitions("gold_videos")
    start = keys.index(request.tags[ASSET_PARTITION_RANGE_START_TAG])
    return keys[start : keys.index(request.tags[ASSET_PARTITION_RANGE_END_TAG]) + 1]


def test_hashing_stops_at_its_budget_and_resumes_next_tick(tmp_path: Path) -> None:
    from sopilot_pipeline.core.watch.scan import advance_watch_state, scan_watch_folder

    folder = tmp_path / "watch" / "t" / "trainee"
    folder.mkdir(parents=True)
    for i in range(20):
        (folder / f"v{i:02d}.mp4").write_bytes(bytes([i]) * 200_000)
    files = list(scan_watch_folder(tmp_path / "watch"))
    state, ready, settling = advance_watch_state({}, files, hash_budget_sec=1e-9)
    assert not ready and len(settling) == 20  # first sight: nothing is stable yet
    hashed_per_tick = []
    while len(ready) < 20:
        state, ready, settling = advance_watch_state(state, files, hash_budget_sec=1e-9)
        hashed_per_tick.append(len(ready))
    assert hashed_per_tick == list(range(1, 21))  # one file per tick on a tiny budget
    assert len({r.sha256 for r in ready}) == 20
