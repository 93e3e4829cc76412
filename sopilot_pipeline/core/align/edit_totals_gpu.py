"""Every candidate edit of a round in one CuPy kernel launch.

On the CPU (``edit_totals``) a round costs about two DPs: forward and backward totals
joined at each candidate. A GPU has thousands of threads and no use for that
bookkeeping: one thread block per candidate runs the whole row-graph DP of its edited
sequence, its threads sharing the rows of a column. Under the speed limit (no two
vertical moves in a row) a column takes two parallel phases: arrivals from the previous
column (horizontal, diagonal, diagonal over an unrelated-activity row), then vertical
arrivals from the same column's first phase. The moves, the float32 costs added in
float64 and the ends are those of ``step_alignment._row_graph_dtw``, so each total is
bit for bit the one a full CPU alignment of that sequence gives. A candidate with no
path under the speed limit comes back infinite and the search re-runs it on the CPU,
as it does for CPU totals.

The launch takes per-candidate offsets into one flat cost buffer, so candidates of
different trainees and golds can share it. Import-safe without CuPy or CUDA;
``gpu_available()`` says whether it runs (``SOPILOT_DTW_DEVICE=cpu`` forces the CPU).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sopilot_pipeline.core.align.edit_totals import row_sources
from sopilot_pipeline.core.base.device import dtw_on_gpu

KERNEL_NAME = "row_graph_totals"
KERNEL_SOURCE = r"""
extern "C" __global__
void row_graph_totals(const float* cost_t, const long long* cost_offset,
                      const int* gold_clips, const int* trainee_clips,
                      const int* sources, const long long* source_offset,
                      const int* row_count, const float* extra_cost,
                      double* scratch, double* totals) {
    // cost_t: per candidate a (trainee clips x gold clips) matrix, gold clips contiguous
    // so the threads of a column read neighbouring floats; sources: the gold clip of
    // each row of the candidate's sequence, -1 for an unrelated-activity row.
    const double INF = __longlong_as_double(0x7ff0000000000000LL);
    const int c = blockIdx.x;
    const int m = gold_clips[c];
    const int n = trainee_clips[c];
    const int rn = row_count[c];
    const float* C = cost_t + cost_offset[c];
    const int* src = sources + source_offset[c];
    const double g = (double)extra_cost[c];
    double* p0 = scratch + 4 * source_offset[c];  // previous column, states 0 and 1
    double* p1 = p0 + rn;
    double* q0 = p1 + rn;                          // this column
    double* q1 = q0 + rn;
    for (int j = 0; j < n; ++j) {
        const float* col = C + (long long)j * m;
        // state 0: arrived by a start, horizontal or diagonal move
        for (int r = threadIdx.x; r < rn; r += blockDim.x) {
            const int s = src[r];
            const double cost = s < 0 ? g : (double)col[s];
            double best = INF;
            if (j == 0 && (r == 0 || (r == 1 && src[0] < 0))) best = 0.0;
            if (j > 0) {
                best = fmin(best, fmin(p0[r], p1[r]));
                if (r > 0) best = fmin(best, fmin(p0[r - 1], p1[r - 1]));
                if (r > 1 && src[r - 1] < 0 && s >= 0)
                    best = fmin(best, fmin(p0[r - 2], p1[r - 2]));
            }
            q0[r] = best + cost;
        }
        __syncthreads();
        // state 1: arrived vertically, from a cell of this column reached in state 0
        for (int r = threadIdx.x; r < rn; r += blockDim.x) {
            const int s = src[r];
            double best = INF;
            if (r > 0 && s >= 0) {
                if (src[r - 1] >= 0) best = q0[r - 1];
                else if (r > 1) best = q0[r - 2];
            }
            q1[r] = s < 0 ? INF : best + (double)col[s];
        }
        __syncthreads();
        double* t = p0; p0 = q0; q0 = t;
        t = p1; p1 = q1; q1 = t;
    }
    if (threadIdx.x == 0) {
        double best = fmin(p0[rn - 1], p1[rn - 1]);
        if (rn > 1 && src[rn - 1] < 0) best = fmin(best, fmin(p0[rn - 2], p1[rn - 2]));
        totals[c] = best;
    }
}
"""

Totals = tuple[dict[int, float], dict[int, float]]


def gpu_available() -> bool:
    """True when CuPy works on a CUDA device and nothing asks for the CPU."""
    return dtw_on_gpu()


def candidate_orders(order: tuple[int, ...]) -> tuple[list[tuple[int, ...]], int]:
    """The sequences a round tries: each step deleted (when more than one is left),
    then each adjacent pair swapped; and how many of them are deletes."""
    k = len(order)
    deletes = [order[:i] + order[i + 1 :] for i in range(k)] if k > 1 else []
    swaps = [order[:i] + (order[i + 1], order[i]) + order[i + 2 :] for i in range(k - 1)]
    return deletes + swaps, len(deletes)


def split_totals(totals: np.ndarray, n_deletes: int) -> Totals:
    deletes = {i: float(t) for i, t in enumerate(totals[:n_deletes])}
    swaps = {i: float(t) for i, t in enumerate(totals[n_deletes:])}
    return deletes, swaps


_kernel = None


def _get_kernel():  # noqa: ANN202 - a cupy.RawKernel, typed only where CuPy exists
    global _kernel
    if _kernel is None:
        import cupy

        _kernel = cupy.RawKernel(KERNEL_SOURCE, KERNEL_NAME)
    return _kernel


class DeviceCosts:
    """The cost matrices of several trainee-gold pairs, held on the GPU in one flat
    buffer (each transposed: trainee clips by gold clips) for the rounds of a search."""

    def __init__(self, costs: list[np.ndarray]) -> None:
        import cupy

        self.shapes = [c.shape for c in costs]
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes[:-1], dtype=np.int64)]).astype(np.int64)
        self.flat = cupy.empty(sum(sizes), dtype=cupy.float32)
        for cost, offset, size in zip(costs, self.offsets, sizes, strict=True):
            transposed = np.ascontiguousarray(np.asarray(cost, np.float32).T)
            self.flat[int(offset) : int(offset) + size] = cupy.asarray(transposed).ravel()

    def round_totals(
        self,
        requests: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, ...]]],
        extra_cost: float,
    ) -> dict[int, Totals]:
        """Every candidate of every requested pair's round (pair -> gold step starts,
        ends and current order) in one launch; per pair, ``candidate_totals``' answer."""
        pair_of, sources, split = [], [], {}
        for i, (starts, ends, order) in requests.items():
            orders, n_deletes = candidate_orders(order)
            split[i] = (len(sources), len(orders), n_deletes)
            sources += [row_sources(starts, ends, o) for o in orders]
            pair_of += [i] * len(orders)
        totals = self._launch(np.array(pair_of, dtype=np.int64), sources, extra_cost)
        return {
            i: split_totals(totals[first : first + count], n_deletes)
            for i, (first, count, n_deletes) in split.items()
        }

    def _launch(
        self, pair_of: np.ndarray, sources: list[np.ndarray], extra_cost: float
    ) -> np.ndarray:
        """Totals of the row sequences ``sources`` (each over pair ``pair_of[c]``'s cost),
        a thread block each."""
        import cupy

        if not sources:
            return np.zeros(0)
        count = len(sources)
        gold_clips = np.array([self.shapes[p][0] for p in pair_of], dtype=np.int32)
        trainee_clips = np.array([self.shapes[p][1] for p in pair_of], dtype=np.int32)
        lengths = np.array([len(s) for s in sources], dtype=np.int32)
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64)]).astype(np.int64)
        scratch = cupy.empty(4 * int(lengths.sum()), dtype=cupy.float64)
        totals = cupy.empty(count, dtype=cupy.float64)
        threads = int(min(256, max(32, -(-int(lengths.max()) // 32) * 32)))
        _get_kernel()(
            (count,),
            (threads,),
            (
                self.flat,
                cupy.asarray(self.offsets[pair_of]),
                cupy.asarray(gold_clips),
                cupy.asarray(trainee_clips),
                cupy.asarray(np.concatenate(sources).astype(np.int32)),
                cupy.asarray(offsets),
                cupy.asarray(lengths),
                cupy.full(count, extra_cost, dtype=cupy.float32),
                scratch,
                totals,
            ),
        )
        return cupy.asnumpy(totals)


BatchTotals = Callable[
    [dict[int, tuple[np.ndarray, np.ndarray, tuple[int, ...]]], float], dict[int, Totals]
]


def batch_totals_for(costs: list[np.ndarray]) -> BatchTotals | None:
    """The GPU's round totals over these pairs' costs when a GPU is usable, else None."""
    return DeviceCosts(costs).round_totals if gpu_available() else None
