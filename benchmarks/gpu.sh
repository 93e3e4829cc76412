#!/usr/bin/env bash
# The GPU checks in one run, for a lent CUDA machine whose python3 already holds torch,
# transformers, CuPy, numba and scipy (nothing else of ours is imported): the edit-total
# kernel against the CPU DP, the edit search on the GPU against the CPU, and V-JEPA2
# ViT-L throughput. Writes its logs to $OUT (or /tmp/sopilot-gpu).
#
#     bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/sopilot-gpu}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c "import sys, numpy, numba, scipy, cupy, torch, transformers as t
print(sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__,
      'cupy', cupy.__version__, 'torch', torch.__version__, 'transformers', t.__version__)"
# pyproject's pytest settings name dagster's warnings; these tests need none of it
python3 -m pytest -q -c /dev/null --rootdir=. -p no:cacheprovider --noconftest \
    sopilot_pipeline_tests/test_edit_totals_gpu.py sopilot_pipeline_tests/test_edit_totals.py \
    2>&1 | tee "$out/pytest.log" | tail -15 || status=1
python3 benchmarks/scoring.py --skip-reference-over 10 | tee "$out/scoring.jsonl" || status=1
for batch in 16 32; do
    python3 benchmarks/vjepa2.py --size vitl --batch "$batch" 2>/dev/null || status=1
done | tee "$out/vjepa2.jsonl"
# torch.compile (SOPILOT_VJEPA2_COMPILE): its compile time is not in the rates
timeout 300 python3 benchmarks/vjepa2.py --size vitl --batch 32 --compile 2>"$out/compile.log" \
    | tee -a "$out/vjepa2.jsonl" || status=1
exit $status
