#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: issue 21's W8A8 target with each of the kernel's
# outputs (docs/RESULTS.md, "W8A8 with its fused next-input epilogue"). Builds cuda_fp8_bench and
# the CUDA tests (LibTorch-free), runs the W8A8 tests (both epilogues against the reference kernels),
# then `cuda_fp8_bench --epilogues` with an nvidia-smi trace (clock, power, throttle reasons).
# QF_NCU=1 adds ncu on both epilogues (28672 x 8192, M = 1024), at ncu's locked base clock and at
# the card's own, to tell the epilogue's instructions from the power cap's clock.
#   device run: bash scripts/device/w8a8_epilogues.sh
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
B="${QF_BUILD:-/tmp/qf-cuda-build}"
cuda_build "$B" qforge_cuda_tests cuda_fp8_bench || exit 1
log "tests (W8A8)"
timeout 240 $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='*W8A8*' > "$OUT/tests.txt" 2>&1
log "tests rc=$?"
grep -E "FAILED|\[  PASSED|tests ran" "$OUT/tests.txt" | head -10
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 200 \
  > "$OUT/gpu_trace.csv" 2>&1 &
SMI=$!
log "bench: cuda_fp8_bench --epilogues"
timeout 240 $B/bench/cuda/cuda_fp8_bench --epilogues 2>&1 | tee "$OUT/bench.txt"
kill $SMI 2>/dev/null
if [ "${QF_NCU:-0}" = 1 ]; then
  NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
  for clock in base none; do
    log "ncu --clock-control $clock: the two W8A8 launches (float y first, then uint8 codes)"
    timeout 200 $NCU --clock-control $clock --section SpeedOfLight --section WarpStateStats --section InstructionStats \
      --metrics dram__bytes_write.sum,lts__t_bytes.sum,smsp__inst_executed.sum -k regex:gemm_kernel \
      $B/bench/cuda/cuda_fp8_bench --epilogues --profile > "$OUT/ncu_$clock.txt" 2>&1
    log "ncu rc=$?"
    grep -E "gemm_kernel|Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|Executed Ipc A|Warp Cycles Per Issued|dram__bytes_write|lts__t_bytes|smsp__inst_executed" \
      "$OUT/ncu_$clock.txt" | grep -v "^==PROF==" | cut -c1-160
  done
fi
log "done"
