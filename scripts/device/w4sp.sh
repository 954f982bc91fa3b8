#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the LibTorch-free CUDA tests and the GEMM
# bench (sm_90), prints the 2:4 kernels' registers / spills, runs the W4A16 and 2:4 tests
# (W4SparseSmall: the register-streaming 2:4 kernel against float64 and, at M <= 16, bit for bit
# against the cp.async-ring kernel), compute-sanitizer memcheck on the small 2:4 shapes, then
# cuda_gemm_bench --sparse (cuBLAS FP16, dense W4A16 and every 2:4 variant in one process,
# M in {1,2,4,8,12,16}). Logs and tables go to $OUT.
#   device run: bash scripts/device/w4sp.sh [--no-tests] [--no-bench] [--ncu]
# --ncu: then ncu (clocks left alone) on every 2:4 kernel variant at 8192^2, M = 1 and 16.
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
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
  esac
done
B=/tmp/qf-w4sp-build
cuda_build $B qforge_cuda_tests cuda_gemm_bench || exit 1
log "registers of the 2:4 kernels (ptxas)"
nvcc -O3 --generate-code=arch=compute_90,code=sm_90 -fmad=false -Xptxas=-v --expt-relaxed-constexpr -std=c++17 -I. \
  -x cu -c runtime/kernels/cuda/w4a16_gemm.cu -o /tmp/w4a16_gemm.o > "$OUT/ptxas.txt" 2>&1
grep -A3 "Compiling entry.*w4sp" "$OUT/ptxas.txt" | grep -E "Compiling|spill|registers" | paste - - - |
  sed 's/ptxas info *://g' | cut -c1-200 | tee "$OUT/ptxas_w4sp.txt" | head -4
if [ $TESTS = 1 ]; then
  log "tests (W4A16, 2:4, layouts)"
  $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='*W4*:*Layout*' > "$OUT/tests.txt" 2>&1
  rc_tests=$?
  grep -E "FAILED|Failure|\[  PASSED|tests ran|Expected|Which is|differ" "$OUT/tests.txt" | head -40
  log "compute-sanitizer memcheck (2:4 small shapes)"
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
    --gtest_filter='*W4SparseSmall*:*W4A16Small*' > "$OUT/memcheck.txt" 2>&1
  rc_mem=$?
  grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -10
  log "tests rc=$rc_tests memcheck rc=$rc_mem"
fi
if [ $BENCH = 1 ]; then
  log "bench"
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 200 \
    > "$OUT/clocks.csv" 2>&1 &
  SMI=$!
  $B/bench/cuda/cuda_gemm_bench --sparse > "$OUT/bench.txt" 2> "$OUT/bench_progress.txt"
  kill $SMI 2>/dev/null
  cat "$OUT/bench.txt"
fi
if [ $NCU = 1 ]; then
  log "ncu: 2:4 kernels at 8192x8192, M = 1 and 16"
  ncu --clock-control none --kernel-name regex:'w4sp' --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis $B/bench/cuda/cuda_gemm_bench --sparse --profile > "$OUT/ncu.txt" 2>&1
  grep -E "w4sp|DRAM Throughput|L2 Cache Throughput|Duration|Achieved Occupancy|Issue Slots Busy|No Eligible|Registers Per" "$OUT/ncu.txt" | \
    sed 's/(qf::cuda::(anonymous namespace)::W4Args)//' | cut -c1-150 | head -150 > "$OUT/ncu_summary.txt"
  head -120 "$OUT/ncu_summary.txt"
fi
log "done"
