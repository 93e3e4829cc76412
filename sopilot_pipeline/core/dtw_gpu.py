"""DTW on an NVIDIA GPU with CuPy, batched over many trainee videos.

One kernel launch does the whole dynamic programme for every pair: one thread block
per (gold, trainee) pair walks the anti-diagonals, its threads sharing each diagonal,
with the three live diagonals in global memory and a barrier between diagonals (not
one launch per diagonal). The arithmetic, including the order of additions and the
tie rule (diagonal, then up, then left), is the CPU kernel's, so given the same
similarities the back-pointers and therefore the paths are identical (cuBLAS may round
a float32 similarity differently from OpenBLAS in the last bit, which can only matter
at an exact tie); paths are backtracked on the CPU.

Import-safe without CuPy or CUDA: ``gpu_available()`` says whether it can run, and
``dtw_align_many`` falls back to the CPU batch at run time.
"""

from __future__ import annotations

import numpy as np

from sopilot_pipeline.core.device import dtw_on_gpu
from sopilot_pipeline.core.dtw import Alignment, _alignment, dtw_align_batch, l2_normalise

_KERNEL_SOURCE = r"""
extern "C" __global__
void dtw_pairs(const float* sim, const long long* sim_offsets, const int* rows,
               const int* cols, signed char* back, double* diagonals,
               const long long* diagonal_offsets, double* totals) {
    const double BIG = 1.0e300;  // never reached by a real accumulated cost
    const int p = blockIdx.x;
    const int m = rows[p];
    const int n = cols[p];
    const float* S = sim + sim_offsets[p];
    signed char* B = back + sim_offsets[p];
    double* d0 = diagonals + diagonal_offsets[p];  // diagonal being filled
    double* d1 = d0 + m;                           // previous diagonal
    double* d2 = d1 + m;                           // the one before
    for (int d = 0; d < m + n - 1; ++d) {
        const int lo = max(0, d - n + 1);
        const int hi = min(m - 1, d);
        for (int i = lo + threadIdx.x; i <= hi; i += blockDim.x) {
            const int j = d - i;
            const double value = (double)S[(long long)i * n + j];
            double cost = 1.0 - value;
            if (cost < 0.0) cost = 0.0;
            double best;
            signed char code;
            if (i == 0 && j == 0) {
                best = 0.0;
                code = 0;
            } else {
                const double diag = (i > 0 && j > 0) ? d2[i - 1] : BIG;
                const double up = (i > 0) ? d1[i - 1] : BIG;
                const double left = (j > 0) ? d1[i] : BIG;
                if (diag <= up) { best = diag; code = 0; } else { best = up; code = 1; }
                if (left < best) { best = left; code = 2; }
            }
            d0[i] = best + cost;
            B[(long long)i * n + j] = code;
        }
        __syncthreads();
        double* t = d2; d2 = d1; d1 = d0; d0 = t;
    }
    if (threadIdx.x == 0) totals[p] = d1[m - 1];
}
"""


def gpu_available() -> bool:
    """True when CuPy works on a CUDA device and nothing asks for the CPU."""
    return dtw_on_gpu()


_kernel = None


def _get_kernel():  # noqa: ANN202 - a cupy.RawKernel, typed only where CuPy exists
    global _kernel
    if _kernel is None:
        import cupy

        _kernel = cupy.RawKernel(_KERNEL_SOURCE, "dtw_pairs")
    return _kernel


def dtw_align_batch_gpu(gold: np.ndarray, trainees: list[np.ndarray]) -> list[Alignment]:
    """Align one gold against many trainees on the GPU (CuPy GEMMs, one DP launch)."""
    import cupy

    if not trainees:
        return []
    if len(gold) == 0 or min(len(t) for t in trainees) == 0:
        raise ValueError("DTW needs non-empty embeddings")
    g = cupy.asarray(l2_normalise(gold))
    m = len(gold)
    sims = [g @ cupy.asarray(l2_normalise(t)).T for t in trainees]
    sizes = np.array([m * len(t) for t in trainees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    sim_flat = cupy.concatenate([s.ravel() for s in sims]).astype(cupy.float32, copy=False)
    back_flat = cupy.empty(int(sizes.sum()), dtype=cupy.int8)
    diagonal_offsets = (np.arange(len(trainees), dtype=np.int64) * 3 * m).astype(np.int64)
    diagonals = cupy.empty(3 * m * len(trainees), dtype=cupy.float64)
    totals = cupy.empty(len(trainees), dtype=cupy.float64)
    rows = cupy.full(len(trainees), m, dtype=cupy.int32)
    cols = cupy.asarray(np.array([len(t) for t in trainees], dtype=np.int32))
    threads = int(min(1024, max(32, -(-min(m, max(len(t) for t in trainees)) // 32) * 32)))
    _get_kernel()(
        (len(trainees),),
        (threads,),
        (
            sim_flat,
            cupy.asarray(offsets),
            rows,
            cols,
            back_flat,
            diagonals,
            cupy.asarray(diagonal_offsets),
            totals,
        ),
    )
    back_host = cupy.asnumpy(back_flat)
    totals_host = cupy.asnumpy(totals)
    out = []
    for k, t in enumerate(trainees):
        back = back_host[offsets[k] : offsets[k] + sizes[k]].reshape(m, len(t))
        out.append(_alignment(back, float(totals_host[k])))
    return out


def dtw_align_many(gold: np.ndarray, trainees: list[np.ndarray]) -> list[Alignment]:
    """Batched DTW on the GPU when one is usable, else on the CPU; same paths either way.
    ``SOPILOT_DTW_DEVICE=cpu`` forces the CPU."""
    if gpu_available():
        return dtw_align_batch_gpu(gold, trainees)
    return dtw_align_batch(gold, trainees)
