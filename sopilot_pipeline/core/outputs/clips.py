"""Deviation clips: a short MP4 cut around a deviation, so a reviewer can watch it.

Re-encoded (H.264, at most 480 px wide) rather than stream-copied: a cut must start on
the deviation, not on the previous keyframe, and a small file opens anywhere.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from sopilot_pipeline.core.base.atomic import atomic_write_with
from sopilot_pipeline.core.video.decode import (
    VideoDecodeError,
    first_frame,
    frames_from,
    open_video,
    upright_rgb,
    video_stream,
)

PAD_SEC = 1.0
MAX_SEC = 20.0
MAX_WIDTH = 480


def cut_clip(source: Path, target: Path, start_sec: float, end_sec: float) -> Path:
    """Write ``source`` between ``start_sec - PAD_SEC`` and ``end_sec + PAD_SEC`` (at most
    ``MAX_SEC``; times from the first frame) to ``target`` atomically."""
    start = max(0.0, start_sec - PAD_SEC)
    end = min(max(end_sec, start_sec) + PAD_SEC, start + MAX_SEC)

    def write(tmp: Path) -> None:
        with open_video(Path(source)) as src:
            stream = video_stream(src)
            rate = stream.average_rate or Fraction(25)
            with av.open(str(tmp), "w", format="mp4") as out:
                origin, turns = first_frame(src, stream)
                src_w, src_h = stream.width, stream.height
                if turns % 2:  # the clip is written upright
                    src_w, src_h = src_h, src_w
                width = min(MAX_WIDTH, src_w) // 2 * 2
                height = max(2, round(src_h * width / src_w / 2) * 2)
                enc = out.add_stream("libx264", rate=rate)
                enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
                enc.options = {"preset": "veryfast", "crf": "26"}
                written = 0
                for t, frame in frames_from(src, stream, origin, start):
                    if t < start:
                        continue
                    if t > end:
                        break
                    if turns:
                        upright = upright_rgb(frame, (width, height), turns)
                        scaled = av.VideoFrame.from_ndarray(upright, format="rgb24").reformat(
                            format="yuv420p"
                        )
                    else:
                        scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = written, Fraction(1) / rate
                    for p in enc.encode(scaled):
                        out.mux(p)
                    written += 1
                for p in enc.encode():
                    out.mux(p)
                if not written:
                    raise VideoDecodeError(f"no frames between {start:.1f} and {end:.1f} s")

    return atomic_write_with(target, write)
