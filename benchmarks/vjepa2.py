"""V-JEPA2 embedding throughput: clips per second through the pipeline's own forward path.

    python benchmarks/vjepa2.py [--size vitl|small] [--batch 32] [--clips 128]

Builds a random V-JEPA2 of the given size (``vitl``: ViT-L, 24 layers, hidden 1024, 16
frames at 256², the size of facebook/vjepa2-vitl-fpc16-256; ``small``: a 4-layer model
for CPU runs), saves it with ``save_pretrained`` and loads it through
``VJEPA2Embedder`` exactly as the pipeline does. It prints one JSON line: ``clips_per_s``
is the embedder's batched path (bf16 autocast, pinned memory, memory-bounded batches on
CUDA); ``reference_clips_per_s`` is the plain path a first implementation would take,
timed in the same run: fp32 weights, one clip per forward pass. The goal on an H100 is at least
300 clips/s for ViT-L at batch 16-32.

What a user waits for is a decoded video through ``embed`` (centre crop, normalisation,
overlapping clips, batches): ``video_clips_per_s`` and ``video_s_per_s`` (seconds of a
30 fps video embedded per second) time that on ``--video-seconds`` of random 640x480
frames already scaled to the model's short edge, as the decoder hands them over;
``reference_video_clips_per_s`` is the host path it replaced, timed on the same frames:
normalised float clips built in numpy, 32 at a time, then copied over. On
CUDA, ``bf16_cosine_min`` is the lowest cosine between the batched path's vectors and
fp32 vectors of the same clips.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import VJEPA2Config, VJEPA2Model

from sopilot_pipeline.core.embed.base import clip_windows
from sopilot_pipeline.core.embed.vjepa2 import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VJEPA2Embedder,
    center_crop,
    clip_frame_index,
)

SIZES = {
    "vitl": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16},
    "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4},
}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def host_path(embedder: VJEPA2Embedder, frames: np.ndarray) -> int:
    """The clips of ``frames`` as the first embedder made them: centre-cropped,
    normalised and stacked as float clips on the host, 32 clips a group."""
    clip = embedder.clip_frames
    windows = clip_windows(len(frames), clip, max(1, clip // 2))
    crop = embedder.loaded.crop_size
    for g in range(0, len(windows), 32):
        group = windows[g : g + 32]
        base = group[0][0]
        x = np.stack([center_crop(f, crop) for f in frames[base : group[-1][1]]])
        x = (x.astype(np.float32) * (1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        index = clip_frame_index([(a - base, b - base) for a, b in group], clip)
        embedder._forward(x[index])
    return len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=None)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--video-seconds", type=float, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    size = args.size or ("vitl" if cuda else "small")
    clips_n = args.clips or (256 if cuda else 8)
    crop = args.crop if cuda or args.size else 128
    config = VJEPA2Config(
        **SIZES[size],
        crop_size=crop,
        patch_size=16,
        frames_per_clip=args.frames,
        tubelet_size=2,
        pred_num_hidden_layers=1,
    )
    with tempfile.TemporaryDirectory(prefix="sopilot-vjepa2-") as tmp:
        path = Path(tmp) / f"vjepa2-{size}"
        VJEPA2Model(config).save_pretrained(path)
        embedder = VJEPA2Embedder(model=str(path), max_batch=args.batch, compile_model=args.compile)
        model = embedder.loaded
        rng = np.random.default_rng(0)
        clips = rng.standard_normal((clips_n, args.frames, 3, crop, crop), dtype=np.float32)

        embedder._forward(clips[: min(4, clips_n)])  # warm-up: kernels, allocator
        _sync(model.device)
        t0 = time.perf_counter()
        embedder._forward(clips)
        _sync(model.device)
        ours = time.perf_counter() - t0

        fp32 = VJEPA2Model.from_pretrained(path, dtype=torch.float32).to(model.device).eval()
        reference_n = max(2, clips_n // 8)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for clip in clips[:reference_n]:
                x = torch.from_numpy(clip[None]).to(model.device)
                fp32.get_vision_features(x).mean(dim=1).cpu()
        _sync(model.device)
        reference = time.perf_counter() - t0

        seconds = args.video_seconds or (60.0 if cuda else 2.0)
        fps = 30.0
        width, height = embedder.frame_size_for(640, 480)
        frames = rng.integers(0, 256, (int(seconds * fps), height, width, 3), dtype=np.uint8)
        times = np.arange(len(frames)) / fps
        embedder.embed(frames[:64], times[:64], fps)  # warm-up at this frame size
        _sync(model.device)
        t0 = time.perf_counter()
        video_clips = len(embedder.embed(frames, times, fps).vectors)
        _sync(model.device)
        video = time.perf_counter() - t0
        t0 = time.perf_counter()
        reference_video_clips = host_path(embedder, frames)
        _sync(model.device)
        reference_video = time.perf_counter() - t0

        cosine_min = None
        if cuda:
            sample = clips[:8]
            batched = embedder._forward(sample)
            with torch.inference_mode():
                x = torch.from_numpy(sample).to(model.device)
                exact = fp32.get_vision_features(x).float().mean(dim=1).cpu().numpy()
            norms = np.linalg.norm(batched, axis=1) * np.linalg.norm(exact, axis=1)
            cosine_min = round(float(((batched * exact).sum(axis=1) / norms).min()), 5)
    ours_rate, reference_rate = clips_n / ours, reference_n / reference
    print(
        json.dumps(
            {
                "case": f"{size}-{args.frames}x{crop}-batch{args.batch}"
                + ("-compiled" if args.compile else ""),
                "device": torch.cuda.get_device_name() if cuda else "cpu",
                "clips_per_s": round(ours_rate, 1),
                "reference_clips_per_s": round(reference_rate, 1),
                "ratio": round(ours_rate / reference_rate, 2),
                "clips": clips_n,
                "video_clips_per_s": round(video_clips / video, 1),
                "video_s_per_s": round(seconds / video, 2),
                "reference_video_clips_per_s": round(reference_video_clips / reference_video, 1),
                "bf16_cosine_min": cosine_min,
            }
        )
    )


if __name__ == "__main__":
    main()
