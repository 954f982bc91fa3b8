#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the CUDA kernels, their tests and the
# benchmark (LibTorch-free build), runs the GPU tests, runs compute-sanitizer memcheck on the
# small test shapes, then benchmarks against cuBLAS FP16 (and PyTorch's torch.matmul as a
# second peer). Logs and tables go to $OUT.
#   device run: bash scripts/device/cuda_kernels.sh [--quick]
# Needs nvcc, CMake, HDF5, Eigen and GoogleTest (the GPU image has them); no GPU -> tests skip.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
QUICK="${1:-}"
B=/tmp/qf-cuda-build
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$OUT/summary.txt"
log "configure"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
log "build"
cmake --build $B -j16 --target qforge_cuda_tests cuda_gemm_bench >> "$OUT/build.txt" 2>&1 ||
  { grep -E -A3 "error" "$OUT/build.txt" | head -120; exit 1; }
grep -E "spill|registers" "$OUT/build.txt" | sort | uniq -c | head -5
log "tests"
$B/tests/runtime_cuda/qforge_cuda_tests > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|error|\[  PASSED|tests ran" "$OUT/tests.txt" | head -40
log "compute-sanitizer memcheck (small shapes)"
compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='*Small*:CudaWeightLayouts*' > "$OUT/memcheck.txt" 2>&1
rc_mem=$?
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -10
log "tests rc=$rc_tests memcheck rc=$rc_mem"
log "bench"
# The SM clock during the run, sampled every 200 ms (latency-bound small-M kernels follow it;
# memory-bound cuBLAS barely does).
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 200 \
  > "$OUT/clocks.csv" 2>&1 &
SMI=$!
$B/bench/cuda/cuda_gemm_bench $QUICK > "$OUT/bench.txt" 2> "$OUT/bench_progress.txt"
kill $SMI 2>/dev/null
cat "$OUT/bench.txt"
log "torch.matmul fp16 peer"
PYTHONUNBUFFERED=1 python3 bench/cuda/torch_fp16_peer.py $QUICK > "$OUT/torch_peer.txt" 2>&1
cat "$OUT/torch_peer.txt"
log "ncu: W4A16 (tensor-core and CUDA-core kernels) and 2:4 at 8192x8192, M = 1, 4 and 16"
ncu --clock-control none --kernel-name regex:'w4' --section SpeedOfLight --section Occupancy --section WarpStateStats \
  --section SchedulerStats --section ComputeWorkloadAnalysis $B/bench/cuda/cuda_gemm_bench --profile > "$OUT/ncu.txt" 2>&1
grep -E "w4a16_dense_kernel|w4_gemv_kernel|w4sp_kernel|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Duration|Achieved Occupancy|Issue Slots Busy|No Eligible|Stall" "$OUT/ncu.txt" | head -120
log "done"
