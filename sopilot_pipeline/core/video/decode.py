"""Video decoding and frame sampling with PyAV.

``probe_video`` reads the container header and decodes only the first frame: cheap enough
to run on every file the sensor sees. ``decode_video`` makes the one full pass: it counts
the frames actually decoded (header counts can be wrong) and samples frames at a target
rate. Only sampled frames
are colour-converted and scaled, which is where most decode time would otherwise go.
Timestamps come from the stream (pts), not ``i / fps``, so variable frame rates stay exact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

MAX_PLAUSIBLE_FPS = 1000.0
MIN_PLAUSIBLE_FPS = 0.1  # one frame every 10 s: slower is a broken header, not a time-lapse


class VideoDecodeError(ValueError):
    """The file is not a usable video; the message says why, for a person to read."""


@dataclass(frozen=True)
class VideoProbe:
    fps: float
    frame_count: int
    duration_sec: float
    width: int
    height: int
    codec: str
    decode_errors: int
    rotation: int = 0  # degrees counter-clockwise applied for display (display matrix)


@dataclass(frozen=True)
class SampledVideo:
    probe: VideoProbe
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB, sampled frames only
    times: np.ndarray  # (N,) float64 seconds from the first frame


def _stream_rate(stream: av.video.stream.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(rate)
            if MIN_PLAUSIBLE_FPS <= value <= MAX_PLAUSIBLE_FPS:
                return value
    return None


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that make the frame upright, from its display
    matrix (phones record sideways and say so there); the nearest multiple of 90."""
    try:
        degrees = float(frame.rotation or 0)
    except (AttributeError, ValueError, TypeError):
        return 0
    return round(degrees / 90.0) % 4


def upright_rgb(frame: av.VideoFrame, size: tuple[int, int], turns: int) -> np.ndarray:
    """The frame as (h, w, 3) uint8 RGB at display ``size`` (w, h), rotated upright.
    Scaled before the turn (so only the small picture is rotated), with area averaging:
    the right filter for a large downscale, and ~3x faster than swscale's default here."""
    width, height = (size[1], size[0]) if turns % 2 else size
    rgb = frame.reformat(
        width=width, height=height, format="rgb24", interpolation="AREA"
    ).to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def open_video(path: Path) -> av.container.InputContainer:
    try:
        size_bytes = path.stat().st_size
    except OSError as exc:
        raise VideoDecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    if size_bytes == 0:
        raise VideoDecodeError("empty file (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise VideoDecodeError(f"not a readable video container ({why})") from exc


def video_stream(
    container: av.container.InputContainer, threaded: bool = True
) -> av.video.stream.VideoStream:
    """The first video stream, set to decode on all cores; a clear error if there is none."""
    if not container.streams.video:
        raise VideoDecodeError("no video stream in file")
    stream = container.streams.video[0]
    if threaded:
        stream.thread_type = "AUTO"
    return stream


def _header_duration(container: av.container.InputContainer, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def probe_video(path: str | Path, max_packets: int = 300) -> VideoProbe:
    """Header facts plus one decoded frame: proves the file is a playable video.

    ``frame_count`` and ``duration_sec`` are what the container claims; the full decode in
    :func:`decode_video` measures them. Raises :class:`VideoDecodeError` with a reason.
    """
    with open_video(Path(path)) as container:
        stream = video_stream(container, threaded=False)
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        rate = _stream_rate(stream)
        errors = 0
        frame = None
        packets = container.demux(stream)
        for _ in range(max_packets):
            try:
                packet = next(packets)
                decoded = packet.decode()  # the last, empty packet flushes the decoder
            except (StopIteration, av.error.EOFError):
                break
            except av.error.FFmpegError:
                errors += 1
                continue
            if decoded:
                frame = decoded[0]
                break
        if frame is None:
            raise VideoDecodeError(
                "no decodable video frames" + (f" ({errors} corrupt packets)" if errors else "")
            )
        duration = _header_duration(container, stream)
        if rate is None and not duration:
            raise VideoDecodeError("frame rate unknown: no usable fps metadata or timestamps")
        frames = int(stream.frames or 0)
        if rate is None and frames > 1:
            _check_timing(frames, duration)
        if not frames and rate and duration:
            frames = round(duration * rate)
        turns = quarter_turns(frame)
        width, height = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        return VideoProbe(
            fps=round(rate, 6) if rate else 0.0,
            frame_count=frames,
            duration_sec=round(duration, 6) if duration else round(frames / rate, 6),
            width=width,
            height=height,
            codec=codec,
            decode_errors=errors,
            rotation=turns * 90,
        )


def _check_timing(frames: int, seconds: float) -> None:
    rate = frames / seconds if seconds > 0 else float("inf")
    if not MIN_PLAUSIBLE_FPS <= rate <= MAX_PLAUSIBLE_FPS:
        raise VideoDecodeError(
            f"implausible frame timing: {frames} frames in {seconds:.4g} s ({rate:.4g} fps); "
            "the file's fps metadata and timestamps are broken"
        )


class _FrameBuffer:
    """Sampled frames written into one array sized from the header's duration, so a
    long video's frames exist once (a list of frames stacked at the end held them twice:
    0.8 GB for 60 minutes at 4 fps). A header that under-states the length costs a
    regrowth; one that over-states it by a fifth or more, a trim at the end."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.data: np.ndarray | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, pixels: np.ndarray) -> None:
        if self.data is None:
            self.data = np.empty((self.capacity, *pixels.shape), dtype=pixels.dtype)
        elif self.count == len(self.data):
            grown = np.empty((len(self.data) * 3 // 2 + 16, *pixels.shape), pixels.dtype)
            grown[: self.count] = self.data
            self.data = grown
        self.data[self.count] = pixels
        self.count += 1

    def array(self) -> np.ndarray:
        assert self.data is not None
        if self.count < 0.8 * len(self.data):
            return self.data[: self.count].copy()
        return self.data[: self.count]


def decode_video(
    path: str | Path,
    target_fps: float | None = None,
    size: tuple[int, int] = (96, 96),
) -> SampledVideo:
    """Decode ``path`` once; sample frames at ``target_fps`` (none when ``None``); all
    sampled frames in one array (``sampled_frames`` streams them instead)."""
    frames = sampled_frames(path, target_fps, size)
    pixels, times = collect_frames(frames)
    assert frames.probe is not None
    if not len(pixels):
        pixels = np.zeros((0, size[1], size[0], 3), np.uint8)
    return SampledVideo(probe=frames.probe, frames=pixels, times=times)


def collect_frames(frames: Iterable[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(frames (n, h, w, 3), times (n,)) of a stream of (seconds, frame), held once in an
    array sized from what the stream's header promises (``SampledFrames``)."""
    buffer: _FrameBuffer | None = None
    times: list[float] = []
    for t, pixels in frames:
        if buffer is None:
            buffer = _FrameBuffer(getattr(frames, "expected_count", 256))
        buffer.append(pixels)
        times.append(t)
    stacked = np.zeros((0, 0, 0, 3), np.uint8) if buffer is None else buffer.array()
    return stacked, np.asarray(times, dtype=np.float64)


class SampledFrames:
    """A video's sampled frames as they are decoded: iterate for (seconds, frame);
    afterwards ``probe`` says what was decoded and ``decode_seconds`` how long it took.
    Errors (``VideoDecodeError``) surface while iterating, where they are found.

    ``size`` is (width, height) of sampled frames, upright (display rotation applied).
    A video recorded slower than ``target_fps`` (1-10 fps) has its frames held over the
    sampling times they cover, so the sampled series has the same rate, clip lengths and
    timing as the same performance filmed at 30 fps. Corrupt packets are skipped and
    counted, so a file with garbage mid-stream still yields the frames around it.
    """

    def __init__(self, path: Path, target_fps: float | None, size: tuple[int, int]) -> None:
        self.path, self.target_fps, self.size = path, target_fps, size
        self.probe: VideoProbe | None = None
        self.expected_count = 256  # sampled frames the header promises, once opened
        self.count = 0
        self.decode_seconds = 0.0

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        frames = _decode(self)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(frames)
            except StopIteration:
                return
            finally:
                self.decode_seconds += time.perf_counter() - t0
            self.count += 1
            yield item


def sampled_frames(
    path: str | Path, target_fps: float | None = None, size: tuple[int, int] = (96, 96)
) -> SampledFrames:
    """Stream ``path``'s frames sampled at ``target_fps`` (see ``SampledFrames``)."""
    return SampledFrames(Path(path), target_fps, size)


TRUSTED_HEADER_SEC = 3 * 3600
"""A header's duration is not trusted beyond this when sizing the frame buffer."""


def _decode(state: SampledFrames) -> Iterator[tuple[float, np.ndarray]]:
    """One pass over the file: yields the sampled frames, sets ``state.probe``."""
    container = open_video(state.path)
    with container:
        stream = video_stream(container)
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        time_base = float(stream.time_base) if stream.time_base else None
        rate = _stream_rate(stream)
        seen = _Pass(width=int(stream.width or 0), height=int(stream.height or 0))
        expected = _header_duration(container, stream)
        if expected and state.target_fps:
            hours = min(expected, TRUSTED_HEADER_SEC)
            state.expected_count = int(hours * state.target_fps) + 8
        sampler = _Sampler(1.0 / state.target_fps, state.size) if state.target_fps else None
        for frame in _decodable_frames(container, stream, seen):
            t = seen.timed(frame, time_base, rate)
            if sampler is not None:
                yield from sampler.offer(frame, t, seen.turns)
    if seen.count == 0:
        errors = f" ({seen.errors} corrupt packets)" if seen.errors else ""
        raise VideoDecodeError("no decodable video frames" + errors)
    if rate is None:
        if seen.count < 2 or seen.last_time <= 0:
            raise VideoDecodeError("frame rate unknown: no usable fps metadata or timestamps")
        _check_timing(seen.count - 1, seen.last_time)
        rate = (seen.count - 1) / seen.last_time
    duration = seen.last_time + 1.0 / rate
    if sampler is not None:
        yield from sampler.finish(duration, seen.turns)
    state.probe = seen.probe(rate, duration, codec)


@dataclass
class _Pass:
    """What one decoding pass has seen so far."""

    width: int
    height: int
    count: int = 0
    errors: int = 0  # corrupt packets skipped
    turns: int = 0  # quarter turns of the display rotation
    first_time: float | None = None
    last_time: float = 0.0

    def timed(self, frame, time_base: float | None, rate: float | None) -> float:
        """The frame's time from the first frame, kept monotone; counts the frame."""
        if frame.pts is not None and time_base is not None:
            t = frame.pts * time_base
        else:
            t = self.count / (rate or 30.0)
        if self.first_time is None:
            self.first_time = t
            self.turns = quarter_turns(frame)
        t -= self.first_time
        if t < self.last_time and self.count:  # out-of-order/duplicate pts: keep time monotone
            t = self.last_time
        self.last_time = t
        self.count += 1
        self.width, self.height = frame.width, frame.height
        return t

    def probe(self, rate: float, duration: float, codec: str) -> VideoProbe:
        upright = (self.height, self.width) if self.turns % 2 else (self.width, self.height)
        return VideoProbe(
            fps=round(rate, 6),
            frame_count=self.count,
            duration_sec=round(duration, 6),
            width=upright[0],
            height=upright[1],
            codec=codec,
            decode_errors=self.errors,
            rotation=self.turns * 90,
        )


def _decodable_frames(container, stream, seen: _Pass) -> Iterator:
    """Every frame that decodes; corrupt packets are skipped and counted in ``seen``."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except (StopIteration, av.error.EOFError):
            return
        except av.error.FFmpegError:
            seen.errors += 1
            if seen.errors > 10_000:
                return
            continue
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            seen.errors += 1
            continue
        yield from decoded


@dataclass
class _Sampler:
    """Frames every ``interval`` seconds: a frame at its own time when it reaches the
    next sampling time; sampling times a frame skipped past get the frame before it."""

    interval: float
    size: tuple[int, int]
    next_sample: float = 0.0
    held: object | None = None  # the previous frame
    held_pixels: np.ndarray | None = None  # ... once converted

    def offer(self, frame, t: float, turns: int) -> Iterator[tuple[float, np.ndarray]]:
        while self.held is not None and self.next_sample + self.interval <= t + 1e-6:
            yield self._held(self.next_sample, turns)
            self.next_sample += self.interval
        pixels = None
        if t + 1e-6 >= self.next_sample:
            pixels = upright_rgb(frame, self.size, turns)
            yield t, pixels
            skipped = math.floor((t + 1e-6 - self.next_sample) / self.interval) + 1
            self.next_sample += self.interval * max(1, skipped)
        self.held, self.held_pixels = frame, pixels

    def finish(self, duration: float, turns: int) -> Iterator[tuple[float, np.ndarray]]:
        """The last frame held over the sampling times up to its own end."""
        if self.held is None:
            return
        while self.next_sample + 1e-6 < duration - self.interval * 0.5:
            yield self._held(self.next_sample, turns)
            self.next_sample += self.interval

    def _held(self, at: float, turns: int) -> tuple[float, np.ndarray]:
        if self.held_pixels is None:
            self.held_pixels = upright_rgb(self.held, self.size, turns)
        return at, self.held_pixels


SEEK_AHEAD_SEC = 30.0  # farther than this, seeking (to a keyframe) beats decoding on


def frames_at(path: str | Path, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
    """The decoded frames nearest to each of ``times`` (seconds from the first frame), as
    (h, w, 3) uint8 RGB at ``size``, upright. Decodes forward, seeking over long gaps; only the
    frames kept are colour-converted. Raises ``VideoDecodeError``."""
    if not times:
        return []
    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[np.ndarray | None] = [None] * len(times)
    last: list = [None, None]  # the frame converted last, and its pixels

    def rgb(frame: av.VideoFrame) -> np.ndarray:
        if last[0] is not frame:  # holding the frame keeps the identity test sound
            last[0] = frame
            last[1] = upright_rgb(frame, size, quarter_turns(frame))
        return last[1]

    with open_video(Path(path)) as container:
        stream = video_stream(container)
        origin = first_frame_time(container, stream)
        frames = frames_from(container, stream, origin, times[order[0]])
        previous: tuple[float, av.VideoFrame] | None = None
        current: tuple[float, av.VideoFrame] | None = None
        for k in order:
            target = times[k]
            here = (current or previous or (0.0, None))[0]
            if target - here > SEEK_AHEAD_SEC:
                frames = frames_from(container, stream, origin, target)
                previous = current = None
            while current is None or current[0] < target:
                if current is not None:
                    previous = current
                current = next(frames, None)
                if current is None:
                    break
            if current is None:
                chosen = previous
            elif previous is None or current[0] - target <= target - previous[0]:
                chosen = current
            else:
                chosen = previous
            if chosen is None:
                raise VideoDecodeError("no decodable video frames")
            out[k] = rgb(chosen[1])
    return [o for o in out if o is not None]


def first_frame_time(container: av.container.InputContainer, stream) -> float:
    """Stream time of the first decodable frame: the origin of all our timestamps."""
    return first_frame(container, stream)[0]


def first_frame(container: av.container.InputContainer, stream) -> tuple[float, int]:
    """Stream time of the first decodable frame and the quarter turns that make the
    video upright (``quarter_turns``), from one decode."""
    for frame in _frames(container, stream):
        origin = frame.pts * float(stream.time_base) if frame.pts is not None else 0.0
        return origin, quarter_turns(frame)
    raise VideoDecodeError("no decodable video frames")


def frames_from(
    container: av.container.InputContainer, stream, origin: float, start: float
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(seconds from the first frame, frame) from shortly before ``start`` on: a seek to
    the keyframe before it, then decoding forward."""
    time_base = float(stream.time_base)
    container.seek(max(0, int((origin + start - 1.0) / time_base)), stream=stream)
    for n, frame in enumerate(_frames(container, stream)):
        t = frame.pts * time_base - origin if frame.pts is not None else n / 30.0
        yield t, frame


def _frames(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    """Decoded frames, skipping corrupt packets."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.FFmpegError:
            continue
