#!/usr/bin/env bash
# On the GPU machine (device tool), one call after kernel branches are merged: the LibTorch-free
# CUDA build, every CUDA test, compute-sanitizer memcheck on small shapes of each kernel family
# and synccheck on the ping-pong turns, then each benchmark binary once in its quick mode (a smoke
# test of the benches; their times are the card's, not a table's). Logs go to $OUT.
#   device run: bash scripts/device/cuda_merged_check.sh
# QF_MEMCHECK / QF_SYNCCHECK replace the sanitizers' gtest filters.
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
B="${QF_BUILD:-/tmp/qf-cuda-build}"
log "source $(git log --oneline -1 2>/dev/null || echo '(no git)')"
cuda_build "$B" qforge_cuda_tests cuda_gemm_bench cuda_fp8_bench cuda_bs_bench || exit 1
T=$B/tests/runtime_cuda/qforge_cuda_tests

log "every CUDA test"
timeout 400 $T > "$OUT/tests.txt" 2>&1
rc=$?
grep -E "^\[  FAILED|\[  PASSED|tests? ran" "$OUT/tests.txt" | head -40
log "tests rc=$rc"
[ $rc -eq 124 ] && { log "tests hung: nothing else runs"; exit 1; }

sanitize() {  # TOOL FILTER
  timeout 240 compute-sanitizer --tool "$1" --error-exitcode 9 $T --gtest_filter="$2" > /tmp/$1.txt 2>&1
  local r=$?
  cat /tmp/$1.txt >> "$OUT/sanitizers.txt"
  grep -E "ERROR SUMMARY|\[  PASSED|\[  FAILED" /tmp/$1.txt | head -5
  log "$1 rc=$r"
}
log "memcheck: W8A8 / FP8 wgmma, W4A16, 2:4 W4A16, block-sparse and the cuda table on small shapes"
sanitize memcheck "${QF_MEMCHECK:-*W8A8Wgmma*m1_*:*W8A8Wgmma*m16_*:*W8A8Wgmma*m100_*:CudaFp8.Pingpong*:*W4StreamSmall*:CudaTable.QGemm*:CudaBlockSparseLayout.*}"
log "synccheck: the ping-pong turns (W8A8 M = 16, 100, 1024 x 12800; FP8 pairs)"
sanitize synccheck "${QF_SYNCCHECK:-*W8A8Wgmma*m16_*:*W8A8Wgmma*m100_*:*W8A8Wgmma*m1024_n12800*:CudaFp8.Pingpong*}"

for bench in "cuda_gemm_bench --quick" "cuda_fp8_bench --quick" "cuda_fp8_bench --levers --quick" "cuda_bs_bench --quick"; do
  log "bench: $bench"
  timeout 150 $B/bench/cuda/$bench > /tmp/bench.txt 2>&1
  r=$?
  cat /tmp/bench.txt >> "$OUT/benches.txt"
  tail -4 /tmp/bench.txt
  log "$bench rc=$r"
done
log "done"
