"""Ingest speed: decode, sample at 4 fps, resize and embed a 60 s 1280x720 30 fps H.264
video, against a naive decoder timed in the same run.

    python benchmarks/ingest.py [--seconds 60] [--video path.mp4]

Prints one JSON line: ``ms`` is ``sampled_frames`` + ``HeuristicEmbedder.embed_frames``
as the pipeline runs them (one stream); ``reference_ms`` converts every decoded frame to
full-size RGB and then picks and shrinks the sampled ones (what a straightforward PyAV
or OpenCV loop does); ``ratio = reference_ms / ms``; ``realtime_factor`` is video seconds per second
of ingest (target: >= 20); ``peak_rss_mb`` is the process's peak over our runs (before
the reference runs). Without ``--video`` a test video is rendered first (moving
textured scene, libx264), which takes about 20 s and is not timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder
from sopilot_pipeline.core.video.decode import sampled_frames


def render_test_video(path: Path, seconds: float, fps: int = 30) -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((90, 160, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for f in range(int(seconds * fps)):
            img = np.roll(base, f * 2, axis=1)
            x = (f * 5) % 1180
            img[300:400, x : x + 100] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def naive_ingest(path: Path, target_fps: float, size: tuple[int, int]) -> np.ndarray:
    frames = []
    next_sample = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 >= next_sample:
                h, w = rgb.shape[:2]
                ys = np.linspace(0, h - 1, size[1]).astype(int)
                xs = np.linspace(0, w - 1, size[0]).astype(int)
                frames.append(rgb[ys][:, xs])
                next_sample += 1.0 / target_fps
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--video", help="use this video instead of rendering one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the naive decoder (on a 60-minute video it grew past 24 GB and was killed)",
    )
    args = parser.parse_args()
    embedder = HeuristicEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.video) if args.video else Path(tmp) / "ingest.mp4"
        if not args.video:
            render_test_video(path, args.seconds)

        def ours(video: Path = path) -> float:
            frames = sampled_frames(video, 4.0, embedder.frame_size)
            embedder.embed_frames(frames, 4.0)
            assert frames.probe is not None
            return frames.probe.duration_sec

        warm = Path(tmp) / "warm.mp4"
        render_test_video(warm, 2.0)
        ours(warm)  # warm caches and compiled code on a short video
        times, duration = [], 0.0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            duration = ours()
            times.append((time.perf_counter() - t0) * 1e3)
        # the process's peak so far: decoding and embedding, before the reference runs
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ref = []
        for _ in range(0 if args.no_reference else max(1, args.repeat // 2)):
            t0 = time.perf_counter()
            naive_ingest(path, 4.0, embedder.frame_size)
            ref.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    ref_ms = statistics.median(ref) if ref else None
    print(
        json.dumps(
            {
                "case": f"ingest-{duration:.0f}s-720p30",
                "ms": round(ms, 1),
                "reference_ms": round(ref_ms, 1) if ref_ms else None,
                "ratio": round(ref_ms / ms, 2) if ref_ms else None,
                "realtime_factor": round(duration / (ms / 1e3), 1),
                "peak_rss_mb": round(peak_mb),
            }
        )
    )


if __name__ == "__main__":
    main()
