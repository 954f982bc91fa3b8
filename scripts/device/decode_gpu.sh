#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: decode tokens/s of a Llama-3.2-1B-shaped model
# with random weights (bench/llama_race_model.py) on the `cuda` table, int4 (llama.cpp's Q4_0
# blocks, int8 per-token activations: bench/hf_ggml_checkpoint) dense and 2:4, against PyTorch
# eager bf16 of the same Hugging Face folder (bench/cuda/torch_decode_peer.py), same GPU, same
# prompt ids, same number of greedy steps. One summary file: $OUT/decode_gpu.txt.
#   device run: bash scripts/device/decode_gpu.sh
# Env: SHAPE=1b|tiny (default 1b), PROMPT (32), TOKENS (128), REPEATS (3), SKIP_TESTS=1,
# PEER_ATTN="sdpa eager" (transformers attention implementations to time; default sdpa).
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
O=$OUT/decode_gpu.txt
SHAPE=${SHAPE:-1b} PROMPT=${PROMPT:-32} TOKENS=${TOKENS:-128} REPEATS=${REPEATS:-3}
B=/tmp/qf-decode-build D=/tmp/qf-decode-data
log() { echo "== $(date +%T) $*" | tee -a "$O"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee -a "$O"
log "source $(git log --oneline -1 2>/dev/null)"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S . -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt" | tee -a "$O"; exit 1; }
cmake --build $B -j16 --target decode_bench hf_ggml_checkpoint qforge_cuda_tests >> "$OUT/build.txt" 2>&1 ||
  { grep -E -B2 -A6 "error" "$OUT/build.txt" | head -100 | tee -a "$O"; exit 1; }
log "built"
if [ -z "${SKIP_TESTS:-}" ]; then
  $B/tests/runtime_cuda/qforge_cuda_tests > "$OUT/tests.txt" 2>&1; rc=$?
  grep -E "FAILED|Failure|Expected|Which is|\[  PASSED|tests ran" "$OUT/tests.txt" | head -40 | tee -a "$O"
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
    --gtest_filter="${MEMCHECK_FILTER:-CudaTable.*:CudaQGemm*Small*:CudaGemv*}" > "$OUT/memcheck.txt" 2>&1
  log "tests rc=$rc memcheck rc=$? ($(grep -E 'ERROR SUMMARY' "$OUT/memcheck.txt" | tail -1))"
fi
mkdir -p $D
HF=$D/hf_$SHAPE
[ -f $HF/model.safetensors ] || python3 bench/llama_race_model.py $HF --shape $SHAPE >> "$OUT/data.txt" 2>&1 ||
  { tail -20 "$OUT/data.txt" | tee -a "$O"; exit 1; }
[ -f $D/q4.qf.h5 ] || $B/bench/cuda/hf_ggml_checkpoint $HF $D/q4.qf.h5 --quant q4_0 >> "$OUT/data.txt" 2>&1
[ -f $D/q4_sp24.qf.h5 ] || $B/bench/cuda/hf_ggml_checkpoint $HF $D/q4_sp24.qf.h5 --quant q4_0 --sparse24 >> "$OUT/data.txt" 2>&1
ls -la $HF $D/*.qf.h5 | tee -a "$O"
log "qforge cuda: dense Q4_0, then 2:4 + Q4_0"
$B/bench/cuda/decode_bench --prompt $PROMPT --tokens $TOKENS --repeats $REPEATS --profile $D/q4.qf.h5 $D/q4_sp24.qf.h5 2>&1 | tee -a "$O"
log "PyTorch eager (transformers), same folder"
for attn in ${PEER_ATTN:-sdpa}; do
  python3 bench/cuda/torch_decode_peer.py $HF --prompt $PROMPT --tokens $TOKENS --repeats $REPEATS --attn $attn 2>&1 |
    grep -v Warning | tail -4 | tee -a "$O"
done
log "qforge cuda again (dense; the order's effect)"
$B/bench/cuda/decode_bench --prompt $PROMPT --tokens $TOKENS --repeats $REPEATS $D/q4.qf.h5 2>&1 | grep -E "tokens/s" | tee -a "$O"
log "done"
