#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: the block-sparse GEMMs of the `cuda` table against
# its dense GEMMs (cuda_bs_bench) with programmatic dependent launch on and off in alternation
# (QF_CUDA_PDL), after the W4, block-sparse and table tests.
#   device run: bash scripts/device/bs_pdl.sh
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
B=/tmp/qf-bspdl-build
cuda_build $B qforge_cuda_tests cuda_bs_bench || exit 1
log "tests (W4, block-sparse, table)"
$B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='*W4*:*BlockSparse*:CudaTable*' > "$OUT/tests.txt" 2>&1
log "tests rc=$? $(grep -E '\[  PASSED|FAILED' "$OUT/tests.txt" | head -3 | tr '\n' ' ')"
for r in 1 2; do
  for pdl in 1 0; do
    log "cuda_bs_bench round $r, QF_CUDA_PDL=$pdl"
    QF_CUDA_PDL=$pdl $B/bench/cuda/cuda_bs_bench > "$OUT/bench_r${r}_pdl$pdl.txt" 2> /dev/null
    grep -E "^\| 4096x(4096|11008) \| (1|16|128) \|" "$OUT/bench_r${r}_pdl$pdl.txt" | cut -d'|' -f2-5,11-13
  done
done
log "done"
