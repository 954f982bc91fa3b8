#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the LibTorch-free CUDA tests and the GEMM
# bench (sm_90), runs the W4A16 / 2:4 tests (with the programmatic-dependent-launch cases and
# the chain test W4Pdl), compute-sanitizer memcheck on the PDL cases, then
# `cuda_gemm_bench --pdl` twice (cuBLAS FP16, W4A16 and 4-bit + 2:4 plain and with PDL, the read
# floor of the same codes, an empty kernel's launch time) with an nvidia-smi clock trace.
#   device run: bash scripts/device/w4_pdl.sh [--no-tests]
# Needs nvcc, CMake, HDF5, Eigen and GoogleTest (the GPU image has them).
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
TESTS=1
for a in "$@"; do
  case "$a" in
    --no-tests) TESTS=0 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
  esac
done
B=/tmp/qf-w4pdl-build
cuda_build $B qforge_cuda_tests cuda_gemm_bench || exit 1
if [ $TESTS = 1 ]; then
  log "tests (W4A16, 2:4, PDL)"
  $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='*W4*' > "$OUT/tests.txt" 2>&1
  rc_tests=$?
  grep -E "FAILED|Failure|\[  PASSED|tests ran|Expected|Which is|differ" "$OUT/tests.txt" | head -40
  log "compute-sanitizer memcheck (the PDL cases)"
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
    --gtest_filter='*W4Pdl*:*launchpdl*' > "$OUT/memcheck.txt" 2>&1
  rc_mem=$?
  grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -10
  log "tests rc=$rc_tests memcheck rc=$rc_mem"
fi
log "bench"
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 200 \
  > "$OUT/clocks.csv" 2>&1 &
SMI=$!
for run in 1 2; do
  $B/bench/cuda/cuda_gemm_bench --pdl > "$OUT/bench_pdl$run.txt" 2> "$OUT/bench_pdl${run}_progress.txt"
  cat "$OUT/bench_pdl$run.txt"
done
kill $SMI 2>/dev/null
log "done"
