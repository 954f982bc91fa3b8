#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the LibTorch-free CUDA tests and the GEMM
# bench (sm_90), runs the W4A16 tests (the streaming small-M kernel of w4_stream_gemm.cu and the
# older kernels), compute-sanitizer memcheck on the streaming kernel's small shapes, then
# cuda_gemm_bench --small (cuBLAS FP16, the register-streaming tensor-core kernel and the
# streaming kernel in one process, M in {1,2,4,8,16}). Logs and tables go to $OUT.
#   device run: bash scripts/device/w4_stream.sh [--no-tests] [--no-bench] [--ncu]
# Needs nvcc, CMake, HDF5, Eigen and GoogleTest (the GPU image has them).
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
TESTS=1
BENCH=1
NCU=0
for a in "$@"; do
  case "$a" in
    --no-tests) TESTS=0 ;;
    --no-bench) BENCH=0 ;;
    --ncu) NCU=1 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
  esac
done
B=/tmp/qf-w4s-build
cuda_build $B qforge_cuda_tests cuda_gemm_bench || exit 1
if [ $TESTS = 1 ]; then
  log "tests (W4A16)"
  $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='*W4*' > "$OUT/tests.txt" 2>&1
  rc_tests=$?
  grep -E "FAILED|Failure|error|\[  PASSED|tests ran|Expected|Which is|differ" "$OUT/tests.txt" | head -40
  log "compute-sanitizer memcheck (streaming kernel, small shapes)"
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
    --gtest_filter='*W4StreamSmall*' > "$OUT/memcheck.txt" 2>&1
  rc_mem=$?
  grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -10
  log "tests rc=$rc_tests memcheck rc=$rc_mem"
fi
if [ $BENCH = 1 ]; then
log "bench"
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 200 \
  > "$OUT/clocks.csv" 2>&1 &
SMI=$!
$B/bench/cuda/cuda_gemm_bench --small > "$OUT/bench.txt" 2> "$OUT/bench_progress.txt"
kill $SMI 2>/dev/null
sed -n '/^device/p;/^copy/p;/^cuBLAS FP16 peak/p;/streaming kernel/,$p' "$OUT/bench.txt"
fi
if [ $NCU = 1 ]; then
  log "ncu: streaming and tensor-core W4A16 at 8192x8192"
  ncu --clock-control none --kernel-name regex:'w4' --section SpeedOfLight --section Occupancy \
    $B/bench/cuda/cuda_gemm_bench --profile > "$OUT/ncu.txt" 2>&1
  grep -E "w4_stream_kernel|w4a16_dense_kernel|DRAM Throughput|Duration" "$OUT/ncu.txt" | head -40
fi
log "done"
