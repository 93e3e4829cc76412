"""The GPU edit search: its kernel compiles (NVRTC, no GPU needed), its two-phase column
scheme gives the CPU DP's totals bit for bit (checked on the CPU, line for line), the
search falls back to the CPU without CUDA, and, where a CUDA device exists, the kernel
itself gives the CPU's totals and the same search."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sopilot_pipeline.core.align import edit_totals_gpu
from sopilot_pipeline.core.align.edit_totals import candidate_totals, row_sources
from sopilot_pipeline.core.scoring import step_alignment
from sopilot_pipeline.core.scoring.step_alignment import (
    SearchPrices,
    _row_graph_dtw,
    explain_trainee,
    explain_trainees,
)
from sopilot_pipeline_tests.nvrtc import NvrtcMissing, compile_ptx
from sopilot_pipeline_tests.test_edit_totals import _case


def _kernel_scheme(cost: np.ndarray, src: np.ndarray, extra_cost: float) -> float:
    """``row_graph_totals`` for one block in numpy: each phase's loop over rows is a
    vector operation (the threads), the phases run in kernel order."""
    inf = np.inf
    rn, n = len(src), cost.shape[1]
    is_g = src < 0
    p0, p1 = np.full(rn, inf), np.full(rn, inf)
    r = np.arange(rn)
    starts = (r == 0) | ((r == 1) & is_g[0])
    skip = np.zeros(rn, dtype=bool)
    skip[2:] = is_g[1:-1] & ~is_g[2:]
    for j in range(n):
        gold = cost[np.maximum(src, 0), j].astype(np.float64)
        col = np.where(is_g, np.float64(np.float32(extra_cost)), gold)
        best = np.full(rn, inf)
        if j == 0:
            best[starts] = 0.0
        else:
            best = np.minimum(best, np.minimum(p0, p1))
            best[1:] = np.minimum(best[1:], np.minimum(p0[:-1], p1[:-1]))
            two_up = np.full(rn, inf)
            two_up[2:] = np.minimum(p0[:-2], p1[:-2])
            best = np.where(skip, np.minimum(best, two_up), best)
        q0 = best + col
        up = np.full(rn, inf)
        up[1:] = np.where(~is_g[:-1], q0[:-1], inf)
        up[2:] = np.where(is_g[1:-1], q0[:-2], up[2:])
        q1 = np.where(is_g | (r == 0), inf, up + col)
        p0, p1 = q0, q1
    best = min(p0[-1], p1[-1])
    if rn > 1 and is_g[-1]:
        best = min(best, p0[-2], p1[-2])
    return float(best)


@pytest.mark.parametrize("seed", range(40))
def test_the_kernel_scheme_gives_the_cpu_totals_bit_for_bit(seed: int) -> None:
    cost, steps = _case(seed)
    starts = np.array([s.start_clip for s in steps])
    ends = np.array([s.end_clip for s in steps])
    rng = np.random.default_rng(seed + 2000)
    order = tuple(int(s) for s in rng.permutation(len(steps)))
    orders, n_deletes = edit_totals_gpu.candidate_orders(order)
    totals = np.array([_kernel_scheme(cost, row_sources(starts, ends, o), 0.6) for o in orders])
    for o, total in zip(orders, totals, strict=True):
        src = row_sources(starts, ends, o)
        assert total == _row_graph_dtw(cost, src, np.float32(0.6), True)[2]
    deletes, swaps = edit_totals_gpu.split_totals(totals, n_deletes)
    cpu_deletes, cpu_swaps = candidate_totals(cost, starts, ends, order, 0.6)
    for got, want in ((deletes, cpu_deletes), (swaps, cpu_swaps)):
        assert got.keys() == want.keys()
        for k, value in got.items():
            assert value == pytest.approx(want[k], rel=1e-9, abs=1e-9) or (
                not np.isfinite(value) and not np.isfinite(want[k])
            )


def test_the_kernel_compiles_with_nvrtc() -> None:
    try:
        ptx = compile_ptx(edit_totals_gpu.KERNEL_SOURCE, edit_totals_gpu.KERNEL_NAME)
    except NvrtcMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must compile the CUDA kernels: {exc}")
        pytest.skip(str(exc))
    assert f".entry {edit_totals_gpu.KERNEL_NAME}" in ptx
    with pytest.raises(RuntimeError, match="could not compile"):
        compile_ptx(edit_totals_gpu.KERNEL_SOURCE.replace("fmin(p0[r]", "fmin(p0[r"), "broken")


def _emulated_device(costs: list[np.ndarray]) -> edit_totals_gpu.DeviceCosts:
    """``DeviceCosts`` with its launch replaced by the kernel scheme on the CPU, so the
    batching around the launch runs here as it does on a GPU."""
    device = edit_totals_gpu.DeviceCosts.__new__(edit_totals_gpu.DeviceCosts)
    device.shapes = [c.shape for c in costs]

    def launch(pair_of: np.ndarray, sources: list[np.ndarray], extra_cost: float) -> np.ndarray:
        return np.array(
            [
                _kernel_scheme(costs[p], src, extra_cost)
                for p, src in zip(pair_of, sources, strict=True)
            ]
        )

    device._launch = launch  # type: ignore[method-assign]
    return device


def test_the_batched_search_gives_each_pair_its_own_answer(monkeypatch) -> None:
    """Several trainee-gold pairs searched in lockstep, every round's candidates of every
    pair in one (emulated) launch: each pair gets the edits and order it gets alone on
    the CPU, whether the pairs need the same number of rounds or not."""
    pairs = [_case(seed) for seed in (3, 11, 19, 27, 35, 43)]
    alone = [explain_trainee(cost, steps, 0.6, 0.3, 0.1, 0.6) for cost, steps in pairs]
    prices = SearchPrices(0.6, 0.3, 0.1, 0.6)
    on_cpu = explain_trainees(pairs, prices)
    monkeypatch.setattr(
        step_alignment,
        "batch_totals_for",
        lambda costs: _emulated_device(costs).round_totals,
    )
    batched = explain_trainees(pairs, prices)
    assert len({len(edits) for _, edits in alone}) > 1  # pairs of different round counts
    for (seq, edits), (cpu_seq, cpu_edits), (gpu_seq, gpu_edits) in zip(
        alone, on_cpu, batched, strict=True
    ):
        assert cpu_seq.order == seq.order == gpu_seq.order
        assert [(e.kind, e.steps) for e in gpu_edits] == [(e.kind, e.steps) for e in edits]
        assert cpu_edits == edits
        assert gpu_seq.total_cost == seq.total_cost


def test_without_cuda_the_search_runs_on_the_cpu(monkeypatch) -> None:
    monkeypatch.setenv("SOPILOT_DTW_DEVICE", "cpu")
    assert edit_totals_gpu.batch_totals_for([np.zeros((3, 3), np.float32)]) is None
    cost, steps = _case(7)
    forced, forced_edits = explain_trainee(cost, steps, 0.6, 0.3, 0.1, 0.6)
    monkeypatch.delenv("SOPILOT_DTW_DEVICE")
    if not edit_totals_gpu.gpu_available():  # this machine: no CuPy or no device, no crash
        auto, auto_edits = explain_trainee(cost, steps, 0.6, 0.3, 0.1, 0.6)
        assert auto.order == forced.order and auto_edits == forced_edits


@pytest.mark.skipif(not edit_totals_gpu.gpu_available(), reason="needs CuPy and a CUDA device")
def test_on_a_gpu_the_kernel_gives_the_full_alignment_totals(monkeypatch) -> None:
    pairs = [_case(seed) for seed in range(30)]
    device = edit_totals_gpu.DeviceCosts([cost for cost, _ in pairs])
    requests = {}
    for i, (_, steps) in enumerate(pairs):
        starts = np.array([s.start_clip for s in steps])
        ends = np.array([s.end_clip for s in steps])
        requests[i] = (starts, ends, tuple(range(len(steps))))
    answers = device.round_totals(requests, 0.6)
    for i, (cost, _) in enumerate(pairs):
        starts, ends, order = requests[i]
        deletes, swaps = answers[i]
        orders, _ = edit_totals_gpu.candidate_orders(order)
        for o, total in zip(orders, [*deletes.values(), *swaps.values()], strict=True):
            src = row_sources(starts, ends, o)
            assert total == _row_graph_dtw(cost, src, np.float32(0.6), True)[2]
    gpu = explain_trainees(pairs, SearchPrices(0.6, 0.3, 0.1, 0.6))
    monkeypatch.setenv("SOPILOT_DTW_DEVICE", "cpu")
    cpu = explain_trainees(pairs, SearchPrices(0.6, 0.3, 0.1, 0.6))
    for (g_seq, g_edits), (c_seq, c_edits) in zip(gpu, cpu, strict=True):
        assert g_seq.order == c_seq.order
        assert [(e.kind, e.steps) for e in g_edits] == [(e.kind, e.steps) for e in c_edits]
