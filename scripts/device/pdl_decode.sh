#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: the `cuda` table with and without programmatic
# dependent launch (QF_CUDA_PDL, runtime/kernels/cuda/launch_util.cuh). Builds the LibTorch-free
# CUDA targets, runs every CUDA test with PDL on (the default on 9.0+ GPUs) and the table / graph /
# W4 tests with it off, compute-sanitizer memcheck on the graph tests and the PDL chain test, then
# greedy decoding of a Llama-3.2-1B-shaped model (random weights, Q4_0 x int8, dense and 2:4;
# see decode_gpu.sh) with PDL on and off in alternation. Stages past DEADLINE seconds are skipped.
#   device run: bash scripts/device/pdl_decode.sh
# Env: PROMPT (32), TOKENS (128), REPEATS (3), ROUNDS (2), DEADLINE (540), SKIP_TESTS=1,
# CONFIGS: the environment settings decoding alternates between, each round in this order
# (default "QF_CUDA_PDL=1 QF_CUDA_PDL=0"; e.g. "QF_SHARE_INPUT_CODES=1 QF_SHARE_INPUT_CODES=0").
set -uo pipefail
source "$(dirname "$0")/cuda_build_lib.sh"
PROMPT=${PROMPT:-32} TOKENS=${TOKENS:-128} REPEATS=${REPEATS:-3} ROUNDS=${ROUNDS:-2} DEADLINE=${DEADLINE:-540}
START=$SECONDS
late() { [ $((SECONDS - START)) -gt "$DEADLINE" ] && { log "deadline: skipping $*"; return 0; }; return 1; }
B=/tmp/qf-pdl-build D=/tmp/qf-pdl-data
cuda_build $B qforge_cuda_tests decode_bench hf_ggml_checkpoint || exit 1
T=$B/tests/runtime_cuda/qforge_cuda_tests
if [ -z "${SKIP_TESTS:-}" ]; then
  log "tests, PDL on"
  $T > "$OUT/tests_pdl_on.txt" 2>&1; rc_on=$?
  grep -E "FAILED|Failure|Expected|Which is|\[  PASSED|tests ran" "$OUT/tests_pdl_on.txt" | head -30
  log "tests, PDL off (table, graphs, W4)"
  QF_CUDA_PDL=0 $T --gtest_filter='CudaTable.*:CudaGraph*:*W4*' > "$OUT/tests_pdl_off.txt" 2>&1; rc_off=$?
  grep -E "FAILED|Failure|\[  PASSED|tests ran" "$OUT/tests_pdl_off.txt" | head -20
  log "memcheck, PDL on"
  compute-sanitizer --tool memcheck --error-exitcode 9 $T --gtest_filter='CudaGraph*:*W4Pdl*' > "$OUT/memcheck.txt" 2>&1
  rc_mem=$?
  grep -E "ERROR SUMMARY|\[  PASSED|FAILED" "$OUT/memcheck.txt" | head -5
  log "tests rc on=$rc_on off=$rc_off memcheck rc=$rc_mem"
fi
late "decode" && exit 0
mkdir -p $D
HF=$D/hf_1b
[ -f $HF/model.safetensors ] || python3 bench/llama_race_model.py $HF --shape 1b > "$OUT/data.txt" 2>&1 ||
  { tail -20 "$OUT/data.txt"; exit 1; }
H=$(ls $B/bench/hf_ggml_checkpoint $B/bench/cuda/hf_ggml_checkpoint 2>/dev/null | head -1)  # where CMake put it
[ -f $D/q4.qf.h5 ] || $H $HF $D/q4.qf.h5 --quant q4_0 >> "$OUT/data.txt" 2>&1
[ -f $D/q4_sp24.qf.h5 ] || $H $HF $D/q4_sp24.qf.h5 --quant q4_0 --sparse24 >> "$OUT/data.txt" 2>&1
log "data ready"
CONFIGS=${CONFIGS:-QF_CUDA_PDL=1 QF_CUDA_PDL=0}
for r in $(seq "$ROUNDS"); do
  for cfg in $CONFIGS; do
    late "decode round $r $cfg" && break 2
    log "decode round $r, $cfg"
    f="$OUT/decode_r${r}_${cfg//=/-}.txt"
    env "$cfg" $B/bench/cuda/decode_bench --prompt $PROMPT --tokens $TOKENS --repeats $REPEATS \
      $D/q4.qf.h5 $D/q4_sp24.qf.h5 > "$f" 2>&1
    grep -E "tokens/s|ids|error" "$f" | head -8
  done
done
log "done"
