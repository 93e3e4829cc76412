"""Which accelerator to use, probed once per process and never fatal.

A probe imports the library *and* runs a tiny computation on the device: an installed
CUDA build with no driver, a device hidden by ``CUDA_VISIBLE_DEVICES=""`` or a broken
CuPy all mean "use the CPU" rather than a crash halfway through a run.
``SOPILOT_DEVICE=cpu`` forces the CPU for everything (``SOPILOT_DTW_DEVICE=cpu`` for
DTW alone).
"""

from __future__ import annotations

import functools
import os

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def requested_device() -> str:
    value = os.environ.get("SOPILOT_DEVICE", "auto").strip().lower() or "auto"
    if value not in DEVICE_CHOICES:
        raise ValueError(
            f"SOPILOT_DEVICE must be one of {', '.join(DEVICE_CHOICES)}, got {value!r}"
        )
    return value


def _cuda_hidden() -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and visible.strip() in ("", "-1")


@functools.cache
def torch_cuda_works() -> bool:
    """torch imports, sees a CUDA device and can multiply on it."""
    if _cuda_hidden():
        return False
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        x = torch.ones((8, 8), device="cuda")
        return bool((x @ x).sum().item() == 512.0)
    except Exception:  # noqa: BLE001 - any failure means "no usable CUDA"
        return False


@functools.cache
def cupy_works() -> bool:
    """CuPy imports, sees a CUDA device and can multiply on it."""
    if _cuda_hidden():
        return False
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        x = cupy.ones((8, 8), dtype=cupy.float32)
        return bool(float((x @ x).sum()) == 512.0)
    except Exception:  # noqa: BLE001 - any failure means "no usable CUDA"
        return False


def torch_device(preference: str = "auto") -> str:
    """ "cuda" or "cpu" for torch models; ``preference`` is a setting, the environment wins
    when it asks for the CPU."""
    if requested_device() == "cpu" or preference == "cpu":
        return "cpu"
    return "cuda" if torch_cuda_works() else "cpu"


def dtw_on_gpu() -> bool:
    if requested_device() == "cpu":
        return False
    if os.environ.get("SOPILOT_DTW_DEVICE", "auto").strip().lower() == "cpu":
        return False
    return cupy_works()
