#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: the `cuda` table's block-sparse GEMMs. Builds the
# CUDA tests and cuda_bs_bench (LibTorch-free), runs every CUDA test (the block-sparse ones against
# the ref table, the block-sparse fixtures end to end), compute-sanitizer memcheck on the small
# block-sparse shapes and the fixtures, then the benchmark (block-sparse 32x32 at 50% / 70% vs
# the dense cuda GEMM of the same precision, cuBLAS FP16 beside; at M <= 8 the dp4a GEMV and the
# mma kernel), ncu on both kernels. Everything lands in $OUT/summary.txt (logs beside it).
#   device run: bash scripts/device/bs_gpu.sh [--quick]
# Run it from the source tree to build (a helper's branch travels as a tarball:
#   mkdir -p /tmp/qf-src && tar xzf .dev-bsgemv/src.tar.gz -C /tmp/qf-src && cd /tmp/qf-src &&
#   bash scripts/device/bs_gpu.sh).
# Needs nvcc, CMake, HDF5, Eigen and GoogleTest (the GPU image has them); no GPU -> tests skip.
set -uo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,12p' "$0"
  exit 0
fi
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
QUICK="${1:-}"
B=/tmp/qf-bs-build
S="$OUT/summary.txt"
log() { echo "== $(date +%T) $*" | tee -a "$S"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$S"
log "source $(cat .dev-source 2>/dev/null || git log --oneline -1 2>/dev/null)"
log "configure"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt" | tee -a "$S"; exit 1; }
log "build"
cmake --build $B -j16 --target qforge_cuda_tests cuda_bs_bench >> "$OUT/build.txt" 2>&1 ||
  { grep -E -B2 -A6 "error" "$OUT/build.txt" | head -150 | tee -a "$S"; exit 1; }
log "tests (every CUDA test)"
$B/tests/runtime_cuda/qforge_cuda_tests > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|Expected|Which is|differ|error|\[  PASSED|tests ran|SKIPPED \]" "$OUT/tests.txt" | head -60 | tee -a "$S"
log "compute-sanitizer memcheck (block-sparse M = 1, 5, 8, 9, 133: the GEMV's row counts and the mma kernel's; the fixtures end to end)"
compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='Shapes/CudaBlockSparse.*_m1n*:Shapes/CudaBlockSparse.*_m5n*:Shapes/CudaBlockSparse.*_m8n*:Shapes/CudaBlockSparse.*_m9n*:Shapes/CudaBlockSparse.*_m133n*:CudaBlockSparseLayout.*:CudaGraph.RuntimeFixtures*' \
  > "$OUT/memcheck.txt" 2>&1
rc_mem=$?
grep -E "ERROR SUMMARY|\[  PASSED|FAILED|Invalid|tests ran" "$OUT/memcheck.txt" | head -20 | tee -a "$S"
log "tests rc=$rc_tests memcheck rc=$rc_mem"
log "bench"
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 500 \
  > "$OUT/clocks.csv" 2>&1 &
SMI=$!
$B/bench/cuda/cuda_bs_bench $QUICK > "$OUT/bench.txt" 2> "$OUT/bench_progress.txt"
echo "bench rc=$?" >> "$OUT/bench.txt"
kill $SMI 2>/dev/null
cat "$OUT/bench.txt" >> "$S"
tail -48 "$OUT/bench.txt"
log "ncu: the block-sparse kernels (GEMV at M = 1, mma at 16), int8 / int4, 4096x4096, 70% pruned; an empty kernel and the dense int4 GEMV at M = 1 beside"
ncu --clock-control none --kernel-name regex:'bs_(steps|gemv)|empty_kernel|q4_gemv' --section SpeedOfLight --section MemoryWorkloadAnalysis \
  --section WarpStateStats --section Occupancy $B/bench/cuda/cuda_bs_bench --profile > "$OUT/ncu.txt" 2>&1
grep -E "bs_steps_kernel|bs_gemv_kernel|empty_kernel|q4_gemv_kernel|Duration|SM Active Cycles|Elapsed Cycles|DRAM Throughput|Memory Throughput|L1/TEX Hit|L2 Hit|Compute \(SM\) Throughput|Achieved Occupancy|Stall Long|Stall L1|Warp Cycles Per Issued" \
  "$OUT/ncu.txt" | cut -c1-150 | head -60 | tee -a "$S"
log "done"
