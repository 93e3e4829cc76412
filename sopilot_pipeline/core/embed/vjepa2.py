"""V-JEPA2 clip embeddings with Hugging Face transformers (the research-grade embedder).

torch and transformers are imported only when a model is loaded, never at import, so
the default install (heuristic embedder) does not need them. Preprocessing is ours,
not the HF video processor's (which needs torchvision): frames arrive resized so that
their short edge is the checkpoint's crop size (``frame_size_for``), are centre-cropped
and ImageNet-normalised. A clip is ``frames_per_clip`` sampled frames; its vector is the
mean over the encoder's patch tokens (``get_vision_features``).

Frames go to the model's device as centre-cropped uint8, each once, and are normalised
and gathered into (overlapping) clips there: built on the host, a batch of float clips
is eight times the bytes, and on an H200 building and copying it held ViT-L to 33
clips/s where the forward pass alone ran 112. On CUDA the weights are bf16 where the
device has it (the model's elementwise work, half its time, moves half the bytes: 172
clips/s against 138 under autocast, H200), else fp16 autocast; the batch size starts
from what the free GPU memory allows and is halved on an out-of-memory error. The
model is loaded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sopilot_pipeline.core.base.device import torch_device
from sopilot_pipeline.core.embed.base import ClipEmbeddings, clip_windows

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ModelLoadError(ValueError):
    """The configured model cannot be used; the message says why and what to do."""


def _is_local(model: str) -> bool:
    return model.startswith((".", "/", "~")) or Path(model).expanduser().exists()


def check_model_source(model: str) -> None:
    """Fail fast, with a reason a person can act on, before anything is loaded."""
    if not model.strip():
        raise ModelLoadError("SOPILOT_VJEPA2_MODEL is empty: give a model directory or hub id")
    if not _is_local(model):
        return  # a hub id: checked against the local cache when loaded
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"V-JEPA2 model directory {str(path)!r} does not exist")
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"V-JEPA2 model directory {str(path)!r} has no config.json "
            "(expected the output of save_pretrained)"
        )
    if not any((path / w).is_file() for w in WEIGHT_FILES):
        raise ModelLoadError(
            f"V-JEPA2 model directory {str(path)!r} has no weights ({', '.join(WEIGHT_FILES)})"
        )


@functools.cache
def model_revision(model: str) -> str:
    """A short id of the exact weights, found without loading them: the hub commit of a
    cached hub model, or a hash of a local directory's config and weight files' sizes and
    times (cheap, and changes whenever the weights are rewritten)."""
    check_model_source(model)
    if not _is_local(model):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError as exc:
            raise ModelLoadError("a hub model id needs huggingface_hub installed") from exc
        cached = try_to_load_from_cache(model, "config.json")
        if not isinstance(cached, str):
            raise ModelLoadError(
                f"V-JEPA2 model {model!r} is not in the local Hugging Face cache; download "
                "it first (huggingface-cli download) or give a local directory"
            )
        return Path(cached).parent.name[:12]  # .../snapshots/<commit>/config.json
    path = Path(model).expanduser()
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.iterdir()):
        if f.suffix in (".safetensors", ".bin", ".json") and f.name != "config.json":
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # transformers.VJEPA2Model (or its torch.compile wrapper)
    device: str
    crop_size: int
    frames_per_clip: int
    tubelet_size: int
    hidden_size: int
    tokens_per_clip: int
    revision: str
    dtype: Any  # the weights' torch dtype, which the clips are given in


@functools.cache
def load_model(model: str, device: str, compile_model: bool, allow_download: bool) -> LoadedModel:
    """Load once per process (the cache key is the whole configuration)."""
    check_model_source(model)
    try:
        import torch
        from transformers import VJEPA2Model
    except ImportError as exc:
        raise ModelLoadError(
            f"the V-JEPA2 embedder needs torch and transformers: pip install '.[gpu]' ({exc})"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = str(Path(model).expanduser()) if _is_local(model) else model
    try:
        net = VJEPA2Model.from_pretrained(
            source, local_files_only=not allow_download, dtype=torch.float32
        )
    except OSError as exc:
        hint = (
            ""
            if _is_local(model)
            else " (not in the local Hugging Face cache; download it first, or set "
            "SOPILOT_VJEPA2_ALLOW_DOWNLOAD=1)"
        )
        raise ModelLoadError(f"cannot load V-JEPA2 model {model!r}{hint}: {exc}") from exc
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(f"{model!r} is not a usable V-JEPA2 checkpoint: {exc}") from exc
    config = net.config
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    net = net.to(device=device, dtype=dtype).eval()
    if compile_model:
        net = torch.compile(net)
    crop, patch, tubelet = int(config.crop_size), int(config.patch_size), int(config.tubelet_size)
    frames = int(config.frames_per_clip)
    return LoadedModel(
        model=net,
        device=device,
        crop_size=crop,
        frames_per_clip=frames,
        tubelet_size=tubelet,
        hidden_size=int(config.hidden_size),
        tokens_per_clip=(crop // patch) ** 2 * max(1, frames // tubelet),
        revision=model_revision(model),
        dtype=dtype,
    )


def short_edge_size(width: int, height: int, short_edge: int) -> tuple[int, int]:
    """(width, height) scaled so the short edge is ``short_edge``; even, never below it."""
    scale = short_edge / max(1, min(width, height))
    w = max(short_edge, int(math.ceil(width * scale / 2) * 2))
    h = max(short_edge, int(math.ceil(height * scale / 2) * 2))
    return w, h


def center_crop(frame: np.ndarray, crop: int) -> np.ndarray:
    """The centre ``crop`` x ``crop`` of one (h, w, 3) frame, as ``preprocess`` takes it."""
    h, w, _ = frame.shape
    if h < crop or w < crop:
        raise ValueError(f"frames {w}x{h} are smaller than the crop {crop}")
    top, left = (h - crop) // 2, (w - crop) // 2
    return frame[top : top + crop, left : left + crop]


def preprocess(frames: np.ndarray, crop: int, device: str = "cpu") -> Any:
    """(n, h, w, 3) uint8 -> (n, 3, crop, crop) float32 torch tensor on ``device``: centre
    crop, ImageNet normalise. The frames travel as uint8 (pinned on CUDA)."""
    import torch

    n, h, w, _ = frames.shape
    if h < crop or w < crop:
        raise ValueError(f"frames {w}x{h} are smaller than the crop {crop}")
    top, left = (h - crop) // 2, (w - crop) // 2
    pixels = torch.from_numpy(np.ascontiguousarray(frames[:, top : top + crop, left : left + crop]))
    if device.startswith("cuda"):
        pixels = pixels.pin_memory().to(device, non_blocking=True)
    mean = torch.as_tensor(IMAGENET_MEAN, device=pixels.device)
    std = torch.as_tensor(IMAGENET_STD, device=pixels.device)
    x = pixels.to(torch.float32).mul_(1.0 / 255.0).sub_(mean).div_(std)
    return x.permute(0, 3, 1, 2).contiguous()


def clip_frame_index(windows: list[tuple[int, int]], frames: int) -> np.ndarray:
    """(clips, frames) frame numbers of each window's clip; a window shorter than
    ``frames`` repeats its last frame."""
    return np.array(
        [[min(a + i, b - 1) for i in range(frames)] for a, b in windows], dtype=np.int64
    )


def batch_limit(free_bytes: int, tokens: int, hidden: int, max_batch: int) -> int:
    """Clips per forward pass that fit in half the free memory, in bf16 activations
    (about 24 hidden-sized tensors per token live at once, attention included)."""
    per_clip = tokens * hidden * 2 * 24
    return max(1, min(max_batch, int(free_bytes * 0.5 // max(per_clip, 1))))


def _slug(model: str) -> str:
    name = Path(model).name if _is_local(model) else model.split("/")[-1]
    return re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-").lower() or "model"


@dataclass(frozen=True)
class VJEPA2Embedder:
    """Clip embeddings from a V-JEPA2 encoder; see the module docstring."""

    model: str
    device: str = "auto"
    max_batch: int = 32
    compile_model: bool = False
    allow_download: bool = False
    frames_per_clip: int = 0  # 0: the checkpoint's own
    stream_clips: int = 0  # clips preprocessed and embedded at a time; 0: max(batch, 32)

    @functools.cached_property
    def loaded(self) -> LoadedModel:
        return load_model(
            self.model, torch_device(self.device), self.compile_model, self.allow_download
        )

    @property
    def name(self) -> str:
        """Embedder and exact weights: embeddings, adapters and scores are kept apart by
        it. Known without loading the model, so sensors never load it."""
        return f"vjepa2-{_slug(self.model)}-{model_revision(self.model)}"

    @property
    def clip_frames(self) -> int:
        frames = self.frames_per_clip or self.loaded.frames_per_clip
        tubelet = self.loaded.tubelet_size
        return max(tubelet, frames // tubelet * tubelet)

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.loaded.crop_size, self.loaded.crop_size)

    def frame_size_for(self, width: int, height: int) -> tuple[int, int]:
        return short_edge_size(width, height, self.loaded.crop_size)

    @property
    def feature_groups(self) -> None:
        return None

    @property
    def dim(self) -> int:
        return self.loaded.hidden_size

    @property
    def where_groups(self) -> tuple[int, ...]:
        return ()

    @property
    def moving_share_group(self) -> int | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **describe(self)}

    def embed(self, frames: np.ndarray, times: np.ndarray, fps: float) -> ClipEmbeddings:
        return self.embed_frames(zip(times, frames, strict=True), fps)

    def embed_frames(
        self, frames: Iterable[tuple[float, np.ndarray]], fps: float
    ) -> ClipEmbeddings:
        """Embed frames as they are decoded: clips go through the model ``stream_clips``
        at a time, and only the frames of clips not yet embedded are held (centre-cropped
        uint8), so memory does not grow with the video (a 60-minute video's frames as
        float clips would be some 20 GB). The clips, batches and vectors are those of
        the whole video at once."""
        m = self.loaded
        clip = self.clip_frames
        stride = max(1, clip // 2)
        group = self.stream_clips or max(self.max_batch, 32)
        times: list[float] = []
        held: list[np.ndarray] = []  # frames from ``first`` on
        first = 0
        windows: list[tuple[int, int]] = []  # not embedded yet
        vectors: list[np.ndarray] = []
        next_start = 0

        def flush() -> None:
            nonlocal first, held
            base = windows[0][0]
            pixels = np.stack(held[base - first : windows[-1][1] - first])
            vectors.append(self._forward_frames(pixels, [(a - base, b - base) for a, b in windows]))
            keep = max(0, min(next_start, len(times) - clip))  # the tail clip may need them
            held = held[keep - first :]
            first = keep
            windows.clear()

        for t, pixels in frames:
            times.append(float(t))
            held.append(center_crop(pixels, m.crop_size).copy())  # not the whole frame
            while next_start + clip <= len(times):
                windows.append((next_start, next_start + clip))
                next_start += stride
            if len(windows) >= group:
                flush()
        n = len(times)
        if n == 0:
            raise ValueError("no frames to embed")
        if next_start == 0:  # shorter than one clip: one short clip
            windows.append((0, n))
        elif next_start - stride + clip < n:  # cover the tail
            windows.append((n - clip, n))
        if windows:
            flush()
        all_windows = clip_windows(n, clip, stride)
        assert sum(len(v) for v in vectors) == len(all_windows)
        frame_dt = 1.0 / fps if fps > 0 else 0.25
        return ClipEmbeddings(
            vectors=np.concatenate(vectors).astype(np.float32),
            start_sec=np.asarray([times[s] for s, _ in all_windows], dtype=np.float64),
            end_sec=np.asarray([times[e - 1] + frame_dt for _, e in all_windows], dtype=np.float64),
            embedder=self.name,
        )

    def _forward(self, clips: np.ndarray) -> np.ndarray:
        """(B, T, 3, crop, crop) float32 -> (B, hidden) mean-pooled encoder tokens."""
        import torch

        return self._encode(len(clips), lambda a, b: torch.from_numpy(clips[a:b]))

    def _forward_frames(self, frames: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
        """The vectors of ``windows``' clips of these centre-cropped uint8 frames, the
        frames normalised and the clips gathered on the model's device."""
        import torch

        m = self.loaded
        x = preprocess(frames, m.crop_size, m.device)
        index = torch.as_tensor(clip_frame_index(windows, self.clip_frames), device=x.device)
        return self._encode(len(windows), lambda a, b: x[index[a:b]])

    def _encode(self, count: int, clips: Callable[[int, int], Any]) -> np.ndarray:
        """The vectors of ``count`` clips, batched as the GPU's free memory allows;
        ``clips(a, b)`` gives clips a to b as a float32 tensor, on the host or the device."""
        import torch

        m = self.loaded
        on_cuda = m.device.startswith("cuda")
        if on_cuda:
            free, _ = torch.cuda.mem_get_info()
            size = batch_limit(free, m.tokens_per_clip, m.hidden_size, self.max_batch)
        else:
            size = min(self.max_batch, 8)
        # fp32 weights on a GPU without bf16: fp16 autocast
        autocast = on_cuda and m.dtype == torch.float32
        out: list[np.ndarray] = []
        start = 0
        while start < count:
            chunk = clips(start, min(count, start + size))
            try:
                with torch.inference_mode():
                    if on_cuda and chunk.device.type == "cpu":
                        chunk = chunk.pin_memory().to(m.device, non_blocking=True)
                    chunk = chunk.to(m.dtype)
                    if autocast:
                        with torch.autocast("cuda", dtype=torch.float16):
                            tokens = m.model.get_vision_features(chunk)
                    else:
                        tokens = m.model.get_vision_features(chunk)
                    out.append(tokens.float().mean(dim=1).cpu().numpy())
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2  # and retry the same clips
                torch.cuda.empty_cache()
                continue
            start += len(chunk)
        return np.concatenate(out)


def describe(embedder: VJEPA2Embedder) -> dict[str, Any]:
    m = embedder.loaded
    return {
        "model": embedder.model,
        "revision": m.revision,
        "device": m.device,
        "dtype": str(m.dtype).removeprefix("torch."),
        "crop_size": m.crop_size,
        "frames_per_clip": embedder.clip_frames,
        "hidden_size": m.hidden_size,
    }
