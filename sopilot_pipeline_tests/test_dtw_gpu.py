"""GPU DTW: the CPU fallback without CUDA, the kernel's diagonal scheme checked on the
CPU, and (only where a CUDA device exists) the GPU paths against the CPU paths."""

from __future__ import annotations

import numpy as np
import pytest

from sopilot_pipeline.core import dtw_gpu
from sopilot_pipeline.core.dtw import _dtw_dp, dtw_align_batch, l2_normalise


def _diagonal_scheme(sim: np.ndarray) -> tuple[np.ndarray, float]:
    """The CUDA kernel's loop, line for line, in Python (one thread per cell)."""
    big = 1.0e300
    m, n = sim.shape
    back = np.empty((m, n), dtype=np.int8)
    d0, d1, d2 = np.empty(m), np.empty(m), np.empty(m)
    for d in range(m + n - 1):
        for i in range(max(0, d - n + 1), min(m - 1, d) + 1):
            j = d - i
            cost = max(0.0, 1.0 - float(sim[i, j]))
            if i == 0 and j == 0:
                best, code = 0.0, 0
            else:
                diag = d2[i - 1] if i > 0 and j > 0 else big
                up = d1[i - 1] if i > 0 else big
                left = d1[i] if j > 0 else big
                best, code = (diag, 0) if diag <= up else (up, 1)
                if left < best:
                    best, code = left, 2
            d0[i] = best + cost
            back[i, j] = code
        d0, d1, d2 = d2, d0, d1
    return back, float(d1[m - 1])


@pytest.mark.parametrize(("m", "n"), [(1, 1), (1, 7), (6, 1), (9, 13), (17, 5)])
def test_kernel_diagonal_scheme_matches_the_cpu_dp(m: int, n: int) -> None:
    rng = np.random.default_rng(m * 100 + n)
    sim = l2_normalise(rng.normal(size=(m, 8))) @ l2_normalise(rng.normal(size=(n, 8))).T
    back, total = _diagonal_scheme(sim)
    cpu_back, cpu_total = _dtw_dp(sim.astype(np.float32), True)
    assert np.array_equal(back, cpu_back)
    assert total == pytest.approx(cpu_total, rel=1e-12)


def test_without_cuda_the_gpu_path_falls_back_to_the_cpu(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    gold = rng.normal(size=(20, 16)).astype(np.float32)
    trainees = [rng.normal(size=(k, 16)).astype(np.float32) for k in (7, 20, 33)]
    monkeypatch.setenv("SOPILOT_DTW_DEVICE", "cpu")
    assert dtw_gpu.gpu_available() is False
    cpu = dtw_align_batch(gold, trainees)
    many = dtw_gpu.dtw_align_many(gold, trainees)
    assert all(np.array_equal(a.path, b.path) for a, b in zip(cpu, many, strict=True))
    monkeypatch.delenv("SOPILOT_DTW_DEVICE")
    if not dtw_gpu.gpu_available():  # this machine: no CuPy or no device, and no crash
        assert all(
            np.array_equal(a.path, b.path)
            for a, b in zip(cpu, dtw_gpu.dtw_align_many(gold, trainees), strict=True)
        )


@pytest.mark.skipif(not dtw_gpu.gpu_available(), reason="needs CuPy and a CUDA device")
def test_gpu_paths_are_identical_to_cpu_paths() -> None:
    rng = np.random.default_rng(2)
    gold = rng.normal(size=(300, 64)).astype(np.float32)
    trainees = [rng.normal(size=(k, 64)).astype(np.float32) for k in (1, 5, 250, 300, 420)]
    cpu = dtw_align_batch(gold, trainees)
    gpu = dtw_gpu.dtw_align_batch_gpu(gold, trainees)
    for a, b in zip(cpu, gpu, strict=True):
        assert np.array_equal(a.path, b.path)
        # cuBLAS and OpenBLAS may round the float32 similarities differently in the last bit
        assert a.total_cost == pytest.approx(b.total_cost, rel=1e-5)
