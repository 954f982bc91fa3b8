#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the CUDA kernels, their tests and the FP8
# benchmark (LibTorch-free build), runs the FP8 GPU tests (the wgmma kernel against the exact
# reference), then times qforge's FP8 E4M3 GEMM against cuBLAS FP16 (same process) and against
# cuBLASLt FP8 through torch._scaled_mm (bench/cuda/torch_fp8_peer.py, same machine, right after).
#   device run: bash scripts/device/cuda_fp8.sh [--quick]
# Needs nvcc (12.x or later, sm_90a), CMake, HDF5, Eigen, GoogleTest and PyTorch with CUDA.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
QUICK="${1:-}"
B="${QF_BUILD:-/tmp/qf-cuda-build}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$OUT/summary.txt"
log "configure"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
log "build"
cmake --build $B -j16 --target qforge_cuda_tests cuda_fp8_bench >> "$OUT/build.txt" 2>&1 ||
  { grep -E -A3 "error" "$OUT/build.txt" | head -120; exit 1; }
log "tests (FP8, the cuda table, the graph on it)"
# timeouts: a pipeline bug hangs on an mbarrier rather than failing
timeout 150 $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='CudaFp8*:CudaTable*:CudaGraph*' > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|\[  PASSED|tests ran" "$OUT/tests.txt" | head -20; grep -E "fp8 wgmma (promoted 0x0|table|fast 0x0)" "$OUT/tests.txt" | head -20
log "tests rc=$rc_tests"
[ $rc_tests -eq 124 ] && { log "tests hung: no bench"; exit 1; }
log "compute-sanitizer memcheck (the table entry: wgmma on small shapes, the exact kernel, quantizers)"
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='CudaFp8.TableEntry*:CudaFp8.Exact*:CudaFp8.Quant*' > "$OUT/memcheck.txt" 2>&1
log "memcheck rc=$?"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -5
log "bench: qforge FP8 vs cuBLAS FP16 (same process)"
timeout 120 $B/bench/cuda/cuda_fp8_bench $QUICK 2>&1 | tee "$OUT/bench.txt"
log "bench: torch._scaled_mm (cuBLASLt FP8) and torch.matmul FP16"
PYTHONUNBUFFERED=1 timeout 180 python3 bench/cuda/torch_fp8_peer.py $QUICK 2>&1 | tee "$OUT/torch_fp8_peer.txt"
log "done"
