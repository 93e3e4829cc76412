"""How needed videos become runs: contiguous range runs, keyed by what they replace."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from sopilot_pipeline.core.store.provenance import gold_version, redo_reason, trainee_version
from sopilot_pipeline.core.watch.scan import ReadyFile, WatchedFile
from sopilot_pipeline.defs.work import (
    GOLD_CHAIN,
    TRAINEE_CHAIN,
    TRAINEE_SCORING,
    Need,
    batch_needs,
    redo_reason_of,
    run_request,
)


def _need(role: str, key: str, selection: tuple[str, ...], latest_id: int = 0) -> Need:
    watched = WatchedFile(role, "task", f"{key}.mp4", Path(f"/w/{key}.mp4"), 1, 1)
    ready = ReadyFile(watched, "ab" * 32)
    return Need(ready, selection, f"v-{key}", None, latest_id)


def test_batches_are_contiguous_ranges_of_one_job_and_selection() -> None:
    trainees = [_need("trainee", f"t{i:02d}", TRAINEE_CHAIN) for i in (7, 0, 1, 2, 3, 5, 6)]
    trainees.append(_need("trainee", "t04", TRAINEE_SCORING))  # other selection
    golds = [_need("gold", g, GOLD_CHAIN) for g in ("g1", "g0")]
    order = {
        "trainee_videos": {n.key: i for i, n in enumerate(sorted(trainees, key=lambda n: n.key))},
        "gold_videos": {n.key: i for i, n in enumerate(reversed(golds))},
    }
    batches = batch_needs(trainees + golds, order, max_partitions=3)
    names = {n.key: n.ready.file.file_name.removesuffix(".mp4") for n in trainees + golds}
    shapes = [[names[n.key] for n in b] for b in batches]
    assert shapes[0] == ["g0", "g1"]  # golds first: their trainees wait for them
    # t04 is not in the full-chain group, so t03 and t05 cannot share a range run
    assert sorted(shapes[1:]) == [["t00", "t01", "t02"], ["t03"], ["t04"], ["t05", "t06", "t07"]]


def test_a_range_run_names_its_range_and_its_key_follows_what_it_replaces() -> None:
    needs = [_need("trainee", f"t{i}", TRAINEE_CHAIN) for i in range(3)]
    range_run = run_request(needs)
    assert range_run.partition_key is None
    assert range_run.tags[ASSET_PARTITION_RANGE_START_TAG] == needs[0].key
    assert range_run.tags[ASSET_PARTITION_RANGE_END_TAG] == needs[-1].key
    assert range_run.tags["sopilot/videos"] == "3"
    assert [a.to_user_string() for a in range_run.asset_selection] == list(TRAINEE_CHAIN)
    single = run_request(needs[:1])
    assert single.partition_key == needs[0].key and single.tags["sopilot/video"] == "t0.mp4"
    # the same video asked for again after its last materialisation changed: a new key,
    # so the daemon runs it (content put back, outputs deleted); same state: same key
    again = run_request([_need("trainee", "t0", TRAINEE_CHAIN, latest_id=42)])
    assert again.run_key != single.run_key
    assert run_request(needs[:1]).run_key == single.run_key
    assert run_request(needs, keyed=False).run_key is None  # process: no daemon key


def test_a_run_says_why_each_video_is_redone() -> None:
    old = trainee_version("a" * 64, "heuristic-v5", {"g": "x"}, "heuristic-v5_1")
    cases = {
        "new or changed gold": trainee_version(
            "a" * 64, "heuristic-v5", {"g": "y"}, "heuristic-v5_1"
        ),
        "new adapter": trainee_version("a" * 64, "heuristic-v5", {"g": "x"}, "heuristic-v5_2"),
        "changed file": trainee_version("b" * 64, "heuristic-v5", {"g": "y"}, "heuristic-v5_2"),
        "new embedder": trainee_version("a" * 64, "vjepa2-vitl", {"g": "x"}, "task-golds"),
    }
    for reason, wanted in cases.items():
        assert redo_reason("trainee", wanted, old, True) == reason
    assert redo_reason("trainee", old, old, False) == "outputs missing"
    assert redo_reason("trainee", old, None, False) == "new video"
    gold = gold_version("a" * 64, "heuristic-v5", "none")
    assert redo_reason("gold", gold_version("a" * 64, "heuristic-v5", "12ab"), gold, True) == (
        "changed steps sidecar"
    )
    needs = [_need("trainee", f"t{i}", TRAINEE_CHAIN) for i in range(3)]
    needs[1] = replace(needs[1], reason="new adapter")
    request = run_request(needs)
    assert request.tags["sopilot/reason"] == "new video ×2; new adapter ×1"
    assert redo_reason_of(request.tags, needs[1].key) == "new adapter"
    assert redo_reason_of(run_request(needs[:1]).tags, needs[0].key) == "new video"
