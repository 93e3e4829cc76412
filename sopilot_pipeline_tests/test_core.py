"""Core library: keys, DTW, decoding, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sopilot_pipeline.core.align.dtw import cosine_cost, dtw_from_cost, subsequence_match
from sopilot_pipeline.core.base.atomic import atomic_write_bytes
from sopilot_pipeline.core.harness.demo import Variant, make_task, render_variant
from sopilot_pipeline.core.video.decode import VideoDecodeError, decode_video, probe_video
from sopilot_pipeline.core.watch.keys import is_video_file_name, video_partition_key


def _reference_dtw(cost: np.ndarray) -> float:
    m, n = cost.shape
    acc = np.full((m + 1, n + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return acc[m, n]


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (23, 31), (40, 17)])
def test_dtw_matches_reference_and_path_is_valid(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    cost = rng.random(shape).astype(np.float32)
    a = dtw_from_cost(cost)
    assert a.total_cost == pytest.approx(_reference_dtw(cost.astype(np.float64)), rel=1e-5)
    steps = np.diff(a.path, axis=0)
    assert tuple(a.path[0]) == (0, 0) and tuple(a.path[-1]) == (shape[0] - 1, shape[1] - 1)
    assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(axis=1) >= 1).all()
    assert cost[a.path[:, 0], a.path[:, 1]].sum() == pytest.approx(a.total_cost, rel=1e-5)


def test_dtw_aligns_a_time_stretched_copy_on_the_diagonal() -> None:
    rng = np.random.default_rng(0)
    gold = rng.normal(size=(30, 16))
    trainee = np.repeat(gold, 2, axis=0)
    a = dtw_from_cost(cosine_cost(gold, trainee))
    assert a.mean_cost < 1e-5
    assert np.all(a.path[:, 0] == a.path[:, 1] // 2)


def test_subsequence_match_finds_the_embedded_segment() -> None:
    rng = np.random.default_rng(1)
    series = rng.normal(size=(60, 8))
    query = series[20:30]
    m = subsequence_match(cosine_cost(query, series))
    assert (m.start, m.end) == (20, 29)
    assert m.mean_cost < 1e-5


def test_partition_keys_are_safe_stable_and_unique() -> None:
    names = ["a b.mp4", "a_b.mp4", "ü.mp4", "..mp4", "x|y,z[1].mp4", "日本.mp4", "a" * 300 + ".mp4"]
    keys = [video_partition_key("Task ü/..", n) for n in names]
    assert len(set(keys)) == len(keys)
    assert keys == [video_partition_key("Task ü/..", n) for n in names]
    for k in keys:
        assert k.isascii() and len(k) < 120
        assert not any(c in k for c in "|,[]/ \\") and "..." not in k
    assert video_partition_key("t", "a.mp4") != video_partition_key("t2", "a.mp4")
    assert is_video_file_name("X.MKV") and not is_video_file_name("x.txt")
    assert not is_video_file_name(".mp4")


def test_decode_counts_frames_and_samples_by_timestamp(tmp_path: Path) -> None:
    task = make_task("t", 2, seed=3, step_sec=1.0)
    path = tmp_path / "v.mp4"
    truth = render_variant(task, Variant("v", ((0, 1.0), (1, 1.0))), path, fps=10, size=(64, 48))
    video = decode_video(path, target_fps=4.0, size=(32, 32))
    assert video.probe.frame_count == round(truth["duration_sec"] * 10)
    assert video.probe.fps == pytest.approx(10.0)
    assert (video.probe.width, video.probe.height, video.probe.codec) == (64, 48, "h264")
    assert video.frames.shape[1:] == (32, 32, 3)
    assert np.allclose(np.diff(video.times), 0.3, atol=0.11)  # 4 fps from a 10 fps stream
    header = probe_video(path)  # header + first frame only: agrees with the full decode
    assert (header.width, header.height, header.codec) == (64, 48, "h264")
    assert header.fps == pytest.approx(10.0)
    assert header.duration_sec == pytest.approx(video.probe.duration_sec, abs=0.11)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"hello, not a video\n" * 50, "not a readable video")],
)
def test_bad_files_raise_a_clear_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError, match=reason):
        decode_video(path)
    with pytest.raises(VideoDecodeError, match=reason):
        probe_video(path)


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"first")

    class Boom(Exception):
        pass

    from sopilot_pipeline.core.base.atomic import atomic_write_with

    def failing(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise Boom

    with pytest.raises(Boom):
        atomic_write_with(target, failing)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_subsequence_match_cannot_collapse_onto_a_few_clips() -> None:
    rng = np.random.default_rng(2)
    query = rng.normal(size=(10, 8))
    series = np.vstack([rng.normal(size=(20, 8)), query.mean(axis=0, keepdims=True)])
    m = subsequence_match(cosine_cost(query, series))
    assert m.end - m.start + 1 >= 5


def test_frames_at_returns_the_nearest_frame_for_each_time(tmp_path: Path) -> None:
    from sopilot_pipeline.core.video.decode import frames_at

    task = make_task("t", 3, seed=4, step_sec=1.0)
    path = tmp_path / "v.mp4"
    render_variant(task, Variant("v", ((0, 1.0), (1, 1.0), (2, 1.0))), path, fps=10, size=(64, 48))
    every = decode_video(path, target_fps=10.0, size=(32, 24))
    wanted = [2.04, 0.0, 0.96, 99.0]  # unsorted, and one past the end
    frames = frames_at(path, wanted, (32, 24))
    for t, frame in zip(wanted, frames, strict=True):
        nearest = int(np.argmin(np.abs(every.times - t)))
        assert np.array_equal(frame, every.frames[nearest]), t


def test_frames_at_seeks_over_long_gaps_and_stays_exact(tmp_path: Path) -> None:
    from sopilot_pipeline.core.video.decode import SEEK_AHEAD_SEC, frames_at

    task = make_task("t", 2, seed=5, step_sec=36.0)  # 72 s: two gaps longer than a seek
    path = tmp_path / "long.mp4"
    render_variant(task, Variant("v", ((0, 1.0), (1, 1.0))), path, fps=5, size=(64, 48))
    every = decode_video(path, target_fps=5.0, size=(32, 24))
    wanted = [1.0, 1.0 + SEEK_AHEAD_SEC + 5, 2 * SEEK_AHEAD_SEC + 10.2]
    frames = frames_at(path, wanted, (32, 24))
    for t, frame in zip(wanted, frames, strict=True):
        nearest = int(np.argmin(np.abs(every.times - t)))
        assert np.array_equal(frame, every.frames[nearest]), t


def test_the_heuristic_embedder_gives_the_same_vectors_chunk_by_chunk(tmp_path: Path) -> None:
    """Long videos are embedded a chunk of frames at a time (constant memory); chunk
    edges, including a chunk of one frame, change no value."""
    from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder

    task = make_task("t", 4, seed=5, step_sec=1.5)
    path = tmp_path / "v.mp4"
    render_variant(task, Variant("v", tuple((k, 1.0) for k in range(4))), path, fps=12)
    video = decode_video(path, target_fps=4.0, size=(96, 96))
    whole = HeuristicEmbedder(chunk_frames=10**6).embed(video.frames, video.times, 4.0)
    assert len(video.frames) > 20
    for chunk in (1, 7, len(video.frames) - 1):
        chunked = HeuristicEmbedder(chunk_frames=chunk).embed(video.frames, video.times, 4.0)
        assert np.array_equal(chunked.vectors, whole.vectors), chunk
        assert np.array_equal(chunked.start_sec, whole.start_sec)


def test_the_share_of_the_frame_that_moves_is_read_off_the_heuristic_vectors() -> None:
    """``moving_share``: near nothing while a square keeps still, its moving pixels'
    share while it moves; carried through an adapter's mapping; none for an embedder
    that does not measure motion."""
    from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder
    from sopilot_pipeline.core.embed.registry import moving_share
    from sopilot_pipeline.core.embed.series import ClipSeries

    rng = np.random.default_rng(3)
    frames = np.full((24, 96, 96, 3), 140, dtype=np.uint8)
    frames += rng.integers(0, 3, size=frames.shape, dtype=np.uint8)  # sensor noise
    for k in range(24):
        x = 20 if k < 12 else 20 + 4 * (k - 11)  # still, then moving 4 px a frame
        frames[k, 40:56, x : x + 16] = (200, 40, 40)
    embedder = HeuristicEmbedder()
    emb = embedder.embed(frames, np.arange(24) / 4.0, 4.0)
    share = moving_share(embedder.name, emb.vectors)
    assert share is not None and len(share) == len(emb.vectors)
    still = emb.end_sec <= 3.0  # clips whose frames all show the square still
    moving = emb.start_sec >= 3.0
    assert share[still].max() < 0.002
    # a 16 x 16 square moving 4 px changes 2 x 4 x 16 of 96 x 96 pixels, those a
    # neighbouring pixel explains (camera shake) left out: about 2 x 3 x 16, 0.01
    assert share[moving].min() > 0.007 and share[moving].max() < 0.014
    series = ClipSeries(emb.vectors, emb.start_sec, emb.end_sec, share)
    assert series.mapped(lambda v: v * 2).motion is share
    assert moving_share("vjepa2-vitl", emb.vectors) is None
