#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: builds the CUDA kernels, their tests and the
# 8-bit GEMM benchmark (LibTorch-free build), runs the FP8 and W8A8 GPU tests (the wgmma kernels
# against the exact / reference kernels, every tile shape), compute-sanitizer memcheck on the
# small shapes, then times qforge's FP8 E4M3 and W8A8 int8 GEMMs against cuBLAS FP16 (same
# process, cuda_fp8_bench) and FP8 against cuBLASLt FP8 through torch._scaled_mm
# (bench/cuda/torch_fp8_peer.py, same machine, right after; QF_NO_TORCH=1 skips it).
#   device run: bash scripts/device/cuda_fp8.sh [--quick]
# A helper's branch travels as a git bundle: git clone .dev-NAME/src.bundle /tmp/qf-src && cd
# /tmp/qf-src && bash scripts/device/cuda_fp8.sh
# QF_NCU=1 adds ncu at 28672 x 8192, M = 1024 (QF_NCU_CLOCK=none: unlocked clock).
# Needs nvcc (12.x or later, sm_90a), CMake, HDF5, Eigen, GoogleTest and PyTorch with CUDA.
set -uo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,12p' "$0"
  exit 0
fi
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
QUICK="${1:-}"
B="${QF_BUILD:-/tmp/qf-cuda-build}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$OUT/summary.txt"
log "source $(git log --oneline -1 2>/dev/null)"
log "configure"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
log "build"
cmake --build $B -j16 --target qforge_cuda_tests cuda_fp8_bench >> "$OUT/build.txt" 2>&1 ||
  { grep -E -A3 "error" "$OUT/build.txt" | head -120; exit 1; }
log "tests (FP8, W8A8, the cuda table, the graph on it)"
# timeouts: a pipeline bug hangs on an mbarrier rather than failing
timeout 240 $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='CudaFp8*:*W8A8*:CudaTable*:CudaGraph*' > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|\[  PASSED|tests ran" "$OUT/tests.txt" | head -20; grep -E "fp8 wgmma (promoted 0x0|table|fast 0x0)" "$OUT/tests.txt" | head -20
log "tests rc=$rc_tests"
[ $rc_tests -eq 124 ] && { log "tests hung: no bench"; exit 1; }
log "compute-sanitizer memcheck (the table entry: wgmma on small shapes, the exact kernel, quantizers)"
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='CudaFp8.TableEntry*:CudaFp8.Exact*:CudaFp8.Quant*' > "$OUT/memcheck.txt" 2>&1
log "memcheck rc=$?"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -5
log "compute-sanitizer memcheck (W8A8 wgmma, every tile shape, the small shapes)"
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='*W8A8Wgmma*m1_*:*W8A8Wgmma*m3_*:*W8A8Wgmma*m16_*:*W8A8Wgmma*m64_*:*W8A8Wgmma*m100_*:*W8A8Wgmma*m129_*:W8A8Wgmma.Refuses*' \
  > "$OUT/memcheck_w8a8.txt" 2>&1
log "memcheck w8a8 rc=$?"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck_w8a8.txt" | head -5
log "compute-sanitizer memcheck (FP8 ping-pong against cooperative: several tiles per consumer, the turns)"
timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='CudaFp8.Pingpong*' > "$OUT/memcheck_pingpong.txt" 2>&1
log "memcheck ping-pong rc=$?"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck_pingpong.txt" | head -5
# The turns (named barriers) run only where a CTA gets several tiles: M = 1024, N = 12800 (800
# ping-pong tiles) and the FP8 ping-pong shapes; M = 16 and 100 cover the edges.
log "compute-sanitizer synccheck (the ping-pong turns: named barriers; W8A8 M = 16, 100, 1024 x 12800; FP8 ping-pong)"
timeout 180 compute-sanitizer --tool synccheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='*W8A8Wgmma*m16_*:*W8A8Wgmma*m100_*:*W8A8Wgmma*m1024_n12800*:CudaFp8.Pingpong*' > "$OUT/synccheck.txt" 2>&1
log "synccheck rc=$?"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/synccheck.txt" | head -5
# Other work on the GPU, clocks and throttle reasons before and after the timings (a run whose
# cuBLAS FP16 is far off its usual time was sharing the GPU or throttled).
gpu_state() {
  nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader |
    sed "s/^/gpu $1: /" | tee -a "$OUT/summary.txt"
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader | sed "s/^/gpu app $1: /" |
    tee -a "$OUT/summary.txt"
}
gpu_state "before bench"
# SM clock, power and throttle reasons every 200 ms while the bench runs (the 8-bit GEMMs hit
# the power cap: throttle reason 0x4).
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 200 \
  > "$OUT/gpu_trace.csv" 2>&1 &
SMI=$!
log "bench: qforge FP8 and W8A8 vs cuBLAS FP16 (same process)"
timeout 200 $B/bench/cuda/cuda_fp8_bench $QUICK 2>&1 | tee "$OUT/bench.txt"
kill $SMI 2>/dev/null
gpu_state "after bench"
if [ "${QF_NO_TORCH:-0}" != 1 ]; then
  log "bench: torch._scaled_mm (cuBLASLt FP8) and torch.matmul FP16"
  PYTHONUNBUFFERED=1 timeout 180 python3 bench/cuda/torch_fp8_peer.py $QUICK 2>&1 | tee "$OUT/torch_fp8_peer.txt"
fi
if [ "${QF_NCU:-0}" = 1 ]; then
  # One launch of each kernel at 28672 x 8192, M = 1024 (cuda_fp8_bench --profile): duration, SM
  # clock, L2 / DRAM / SM throughput (what limits the 8-bit GEMMs; cuBLAS FP16 beside).
  NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
  # QF_NCU_CLOCK=none: the card's own clock (ncu otherwise locks it near base, ~1.4 GHz, which
  # hides a power cap).
  log "ncu ($NCU): --profile, clock control ${QF_NCU_CLOCK:-base}"
  timeout 240 $NCU --clock-control ${QF_NCU_CLOCK:-base} --section SpeedOfLight --metrics lts__t_bytes.sum,dram__bytes.sum -k regex:gemm \
    $B/bench/cuda/cuda_fp8_bench --profile > "$OUT/ncu.txt" 2>&1
  log "ncu rc=$?"
  grep -E "gemm_kernel|Kernel|gemm|Duration|SM Frequency|L2 Cache Throughput|DRAM Throughput|Compute \(SM\)|lts__t_bytes|dram__bytes" \
    "$OUT/ncu.txt" | grep -vE "^==PROF==" | cut -c1-160 > "$OUT/ncu_short.txt"
fi
log "done"
