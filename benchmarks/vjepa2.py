"""V-JEPA2 embedding throughput: clips per second through the pipeline's own forward path.

    python benchmarks/vjepa2.py [--size vitl|small] [--batch 32] [--clips 128]

Builds a random V-JEPA2 of the given size (``vitl``: ViT-L, 24 layers, hidden 1024, 16
frames at 256², the size of facebook/vjepa2-vitl-fpc16-256; ``small``: a 4-layer model
for CPU runs), saves it with ``save_pretrained`` and loads it through
``VJEPA2Embedder`` exactly as the pipeline does. It prints one JSON line: ``clips_per_s``
is the embedder's batched path (bf16 autocast, pinned memory, memory-bounded batches on
CUDA); ``reference_clips_per_s`` is the plain path a first implementation would take,
timed in the same run: fp32, one clip per forward pass. The goal on an H100 is at least
300 clips/s for ViT-L at batch 16-32.
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

from sopilot_pipeline.core.embed.vjepa2 import VJEPA2Embedder

SIZES = {
    "vitl": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16},
    "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4},
}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clips", type=int, default=None)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--frames", type=int, default=16)
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
        embedder = VJEPA2Embedder(model=str(path), max_batch=args.batch)
        model = embedder.loaded
        rng = np.random.default_rng(0)
        clips = rng.standard_normal((clips_n, args.frames, 3, crop, crop), dtype=np.float32)

        embedder._forward(clips[: min(4, clips_n)])  # warm-up: kernels, allocator
        _sync(model.device)
        t0 = time.perf_counter()
        embedder._forward(clips)
        _sync(model.device)
        ours = time.perf_counter() - t0

        reference_n = max(2, clips_n // 8)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for clip in clips[:reference_n]:
                x = torch.from_numpy(clip[None]).to(model.device)
                model.model.get_vision_features(x).mean(dim=1).cpu()
        _sync(model.device)
        reference = time.perf_counter() - t0
    ours_rate, reference_rate = clips_n / ours, reference_n / reference
    print(
        json.dumps(
            {
                "case": f"{size}-{args.frames}x{crop}-batch{args.batch}",
                "device": torch.cuda.get_device_name() if cuda else "cpu",
                "clips_per_s": round(ours_rate, 1),
                "reference_clips_per_s": round(reference_rate, 1),
                "ratio": round(ours_rate / reference_rate, 2),
                "clips": clips_n,
            }
        )
    )


if __name__ == "__main__":
    main()
