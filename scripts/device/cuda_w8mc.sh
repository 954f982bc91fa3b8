#!/usr/bin/env bash
# On the GPU machine (device tool), in one call (branch w8mc: multicast, deeper rings, persistent
# pairs for the Hopper 8-bit GEMMs; docs/RESULTS.md, "Multicast, deeper rings and persistent
# pairs"): builds the CUDA tests and cuda_fp8_bench (LibTorch-free), counts the memory barriers
# ptxas put into the multicast kernels (cuobjdump -sass), runs the FP8 / W8A8 / CudaTable GPU
# tests, compute-sanitizer memcheck and synccheck on the small shapes with every new
# configuration, then `cuda_fp8_bench --levers` (cuBLAS FP16 first and last in the same process)
# with an nvidia-smi trace, the torch._scaled_mm peer, and ncu (card's own clock) on the levers.
#   device run: git clone -b w8mc .dev-w8mc/src.bundle /tmp/qf && cd /tmp/qf && bash scripts/device/cuda_w8mc.sh
# QF_NO_NCU=1 skips ncu, QF_NO_TORCH=1 the torch peer, QF_QUICK=1 times 28672 x 8192, M = 1024 only.
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
B="${QF_BUILD:-/tmp/qf-cuda-build}"
log "source ${QF_SRC:-$(git log --oneline -1 2>/dev/null)}"
cuda_build "$B" qforge_cuda_tests cuda_fp8_bench || exit 1
mv "$OUT/build.txt" /tmp/qf-build.txt  # (8 files come back at most)
log "sass: memory barriers in the 8-bit wgmma kernels"
CUOBJ=$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)
LIB=$(find "$B" -name 'libqforge_cuda_fp8_sm90a.a' | head -1)
$CUOBJ -sass "$LIB" 2>/dev/null | awk '
  /Function :/ { if (name != "") printf "%d MEMBAR %d FENCE %d SYNCS.ARRIVE %s\n", mb, fe, ar, name; name = $3; mb = 0; fe = 0; ar = 0 }
  /MEMBAR/ { mb++ } /FENCE/ { fe++ } /SYNCS.ARRIVE/ { ar++ }
  END { if (name != "") printf "%d MEMBAR %d FENCE %d SYNCS.ARRIVE %s\n", mb, fe, ar, name }' |
  c++filt | sed -E 's/\(CUtensorMap_st.*//' > "$OUT/sass_barriers.txt"
echo "kernels: $(grep -c . "$OUT/sass_barriers.txt"), with a MEMBAR: $(grep -vc '^0 MEMBAR' "$OUT/sass_barriers.txt")"
grep -v '^0 MEMBAR' "$OUT/sass_barriers.txt" | cut -c1-200 | head -12
log "tests (FP8, W8A8, the cuda table)"
timeout 300 $B/tests/runtime_cuda/qforge_cuda_tests --gtest_filter='CudaFp8*:*W8A8*:CudaTable*' > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|\[  PASSED|tests ran" "$OUT/tests.txt" | head -20
log "tests rc=$rc_tests"
[ $rc_tests -eq 124 ] && { log "tests hung: no bench"; exit 1; }
log "memcheck (W8A8 small shapes, every configuration; FP8 ping-pong / multicast pairs)"
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='*W8A8Wgmma*m1_*:*W8A8Wgmma*m3_*:*W8A8Wgmma*m16_*:*W8A8Wgmma*m64_*:*W8A8Wgmma*m100_*:*W8A8Wgmma*m129_*:CudaFp8.Pingpong*' \
  > /tmp/memcheck.txt 2>&1
log "memcheck rc=$?"
cat /tmp/memcheck.txt >> "$OUT/sanitizers.txt"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" /tmp/memcheck.txt | head -5
log "synccheck (W8A8 M = 16, 100, 1024 x 12800; FP8 ping-pong / multicast pairs)"
timeout 200 compute-sanitizer --tool synccheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='*W8A8Wgmma*m16_*:*W8A8Wgmma*m100_*:*W8A8Wgmma*m1024_n12800*:CudaFp8.Pingpong*' > /tmp/synccheck.txt 2>&1
log "synccheck rc=$?"
cat /tmp/synccheck.txt >> "$OUT/sanitizers.txt"
grep -E "ERROR SUMMARY|\[  PASSED|FAILED" /tmp/synccheck.txt | head -5
gpu_state() {
  nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader |
    sed "s/^/gpu $1: /" | tee -a "$OUT/summary.txt"
}
gpu_state "before bench"
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 200 \
  > "$OUT/gpu_trace.csv" 2>&1 &
SMI=$!
Q=""; [ "${QF_QUICK:-0}" = 1 ] && Q="--quick"
log "bench: cuda_fp8_bench --levers $Q"
timeout 240 $B/bench/cuda/cuda_fp8_bench --levers $Q 2>&1 | tee "$OUT/bench.txt"
kill $SMI 2>/dev/null
gpu_state "after bench"
if [ "${QF_NO_TORCH:-0}" != 1 ]; then
  log "bench: torch._scaled_mm (cuBLASLt FP8) and torch.matmul FP16"
  PYTHONUNBUFFERED=1 timeout 120 python3 bench/cuda/torch_fp8_peer.py 2>&1 | tee "$OUT/torch_fp8_peer.txt" | tail -12
fi
if [ "${QF_NO_NCU:-0}" != 1 ]; then
  NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
  log "ncu: --levers --profile at the card's clock"
  timeout 200 $NCU --clock-control none --section SpeedOfLight --metrics lts__t_bytes.sum,dram__bytes.sum -k regex:gemm \
    $B/bench/cuda/cuda_fp8_bench --levers --profile > /tmp/ncu.txt 2>&1
  log "ncu rc=$?"
  grep -E "gemm|Duration|SM Frequency|L2 Cache Throughput|Compute \(SM\)|lts__t_bytes|dram__bytes" \
    /tmp/ncu.txt | grep -vE "^==PROF==" | cut -c1-170 > "$OUT/ncu_short.txt"
fi
log "done"
