"""The raw copy kept when privacy masking is on: the video re-encoded with faces masked.

Written upright (the display matrix applied, so every later reader sees what a person
sees), at most ``MAX_WIDTH`` wide, H.264, with each frame's own timestamp (variable frame
rates stay as recorded), video only: the copy is for reviewing, and a soundtrack may
carry voices and names.
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
from sopilot_pipeline.core.video.face_mask import FaceDetector, MaskStats, masked_frames

MAX_WIDTH = 1280
TIME_BASE = Fraction(1, 90000)


def write_masked_copy(source: Path, target: Path, detector: FaceDetector) -> MaskStats:
    """Decode ``source``, mask the faces ``detector`` finds, write ``target`` atomically.
    Raises ``VideoDecodeError`` when no frame decodes."""
    stats = MaskStats()

    def write(tmp: Path) -> None:
        with open_video(Path(source)) as src:
            stream = video_stream(src)
            origin, turns = first_frame(src, stream)
            width, height = stream.width, stream.height
            if turns % 2:
                width, height = height, width
            out_w = min(MAX_WIDTH, width) // 2 * 2
            out_h = max(2, round(height * out_w / max(width, 1) / 2) * 2)
            rate = stream.average_rate or stream.guessed_rate or Fraction(30)
            decoded = (
                (t, upright_rgb(frame, (out_w, out_h), turns))
                for t, frame in frames_from(src, stream, origin, 0.0)
            )
            with av.open(str(tmp), "w", format="mp4") as out:
                enc = out.add_stream("libx264", rate=rate)
                enc.width, enc.height, enc.pix_fmt = out_w, out_h, "yuv420p"
                enc.time_base = TIME_BASE
                enc.options = {"preset": "veryfast", "crf": "23"}
                last_pts = -1
                for t, pixels, _ in masked_frames(decoded, detector, stats):
                    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(
                        format="yuv420p"
                    )
                    pts = max(round(max(t, 0.0) / TIME_BASE), last_pts + 1)
                    frame.pts, frame.time_base, last_pts = pts, TIME_BASE, pts
                    for packet in enc.encode(frame):
                        out.mux(packet)
                for packet in enc.encode():
                    out.mux(packet)
        if not stats.frames:
            raise VideoDecodeError("no decodable video frames")

    atomic_write_with(target, write, keep_suffix=True)
    return stats
