#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: the wgmma block-sparse kernel
# (runtime/kernels/cuda/block_sparse_wgmma.h) -- build, the W4 / block-sparse / table tests (the
# forced wgmma variants included), compute-sanitizer memcheck on the block-sparse M = 16 and 133
# cases and the layout tests, then cuda_bs_bench with programmatic dependent launch on and off in
# alternation (QF_CUDA_PDL), ROUNDS rounds (default 2), BENCH_ARGS (default --target: M = 1, 16,
# 128), then ncu on the dense / wgmma / mma kernels at M = 128 (4096^2 int8; NONCU=1 skips it).
# Every step has a time limit (a wrong transaction count would leave an mbarrier waiting forever).
#   device run: bash scripts/device/bs_wgmma.sh            (ROUNDS=1 / NOMEM=1 to shorten)
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
B=/tmp/qf-bswg-build
ROUNDS="${ROUNDS:-2}"
cuda_build $B qforge_cuda_tests cuda_bs_bench || exit 1
T=$B/tests/runtime_cuda/qforge_cuda_tests
log "tests (W4, block-sparse, table)"
timeout 240 $T --gtest_filter='*W4*:*BlockSparse*:CudaTable*' > "$OUT/tests.txt" 2>&1
rc=$?
log "tests rc=$rc $(grep -E '\[  PASSED|FAILED  \]' "$OUT/tests.txt" | head -3 | tr '\n' ' ')"
grep -E "Failure|Expected|Which is|differ|wgmma kernel" "$OUT/tests.txt" | head -30
[ $rc = 124 ] && { log "tests timed out: no memcheck, no bench"; exit 1; }
if [ "${NOMEM:-0}" != 1 ]; then
  log "compute-sanitizer memcheck (block-sparse M = 16 and 133, layouts)"
  timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $T \
    --gtest_filter='Shapes/CudaBlockSparse.*_m16n*:Shapes/CudaBlockSparse.*_m133n*:CudaBlockSparseLayout.*' \
    > "$OUT/memcheck.txt" 2>&1
  log "memcheck rc=$? $(grep -E 'ERROR SUMMARY|\[  PASSED|FAILED  \]' "$OUT/memcheck.txt" | head -3 | tr '\n' ' ')"
fi
for r in $(seq 1 "$ROUNDS"); do
  for pdl in 1 0; do
    log "cuda_bs_bench round $r, QF_CUDA_PDL=$pdl"
    f="$OUT/bench_r${r}_pdl$pdl"
    QF_CUDA_PDL=$pdl timeout 150 $B/bench/cuda/cuda_bs_bench ${BENCH_ARGS---target} > "$f.txt" 2> "${f}_err.txt"
    echo "rc=$?"
    grep -c "bit-identical" "$OUT/bench_r${r}_pdl$pdl.txt"; grep "MISMATCH" "$OUT/bench_r${r}_pdl$pdl.txt" | head -5
    # N x K, M, weights, dense, 70% table, 70%/dense, 70% mma, 70% wgmma, mma/dense, wgmma/dense
    grep -E "^\| 4096x(4096|11008) \| (16|64|128) \|" "$OUT/bench_r${r}_pdl$pdl.txt" | cut -d"|" -f2-5,10,12,16,18-20
  done
done
grep -E "M=(16|64|128) 70%" "$OUT/bench_r1_pdl1.txt" | sed 's/\[wm [0-9], wk [0-9]*\] [0-9.]* us;//g'
if [ "${NONCU:-0}" != 1 ]; then
  log "ncu: dense int8, block-sparse wgmma and mma kernels, 4096^2, M = 128, 70% pruned"
  timeout 120 ncu --clock-control none --kernel-name regex:'bsw_kernel|bs_steps|gemm_kernel' --section SpeedOfLight \
    --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
    $B/bench/cuda/cuda_bs_bench --profile128 > "$OUT/ncu.txt" 2>&1
  log "ncu rc=$?"
  keys="Context 1|Duration|Memory Throughput|DRAM Throughput|L2 Cache Throughput|Compute \(SM\)|Achieved Occupancy"
  grep -E "$keys|Stall|Warp Cycles Per Issued" \
    "$OUT/ncu.txt" | cut -c1-150 | head -60
fi
log "done"
