#!/usr/bin/env bash
# The llama.cpp race (issue 20; docs/RESULTS.md "GGUF: the race against llama.cpp"): the same
# Q4_0 weights of a Llama-3.2-1B-shaped model with random weights, run by llama.cpp (node-llama-cpp
# 3.21.1's prebuilt CPU binaries, llama.cpp 5b4ebc5) and by qforge's runtime, same machine, same
# thread count; prompt processing and generation tokens/s, interleaved, repeated. qforge also runs
# the 2:4-pruned Q4_0 model, which llama.cpp cannot run.
#
#   bench/llama_race.sh [--rounds 3] [--threads "1 2"] [--pp 128,512] [--tg 128] [--build DIR]
#                       [--data DIR] [--out DIR] [--qforge BIN]
#
# Once (kept in --data, default /work/q4race-data, ~6 GB): the Hugging Face folder
# (bench/llama_race_model.py, bf16), its GGUF (`qforge export --format gguf --quant q4_0`), the
# .qf.h5 with the same Q4_0 blocks and the 2:4 one (bench/hf_ggml_checkpoint). Then a same-model
# check (next-token distribution after 16 ids, qforge vs llama.cpp) and R rounds of
# llama.cpp -> qforge Q4_0 -> qforge Q4_0 + 2:4 at each thread count, each a fresh process
# (bench/peers/llama_cpp_race.mjs, bench/llama_race_qforge). Report: OUT/report.md
# (default bench/out/llama_race). Needs: a build with the targets qforge, hf_ggml_checkpoint and
# llama_race_qforge; node-llama-cpp (cd tests/gguf/llama_cpp && npm ci --omit=optional);
# /usr/bin/python3 with numpy.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 threads="1 2" pp=128,512 tg=128 build=build data=/work/q4race-data out=bench/out/llama_race qforge_bin=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --pp) pp=$2; shift 2 ;;
    --tg) tg=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --qforge) qforge_bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "llama_race.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
qforge=${qforge_bin:-$build/cli/qforge}  # --qforge: another build's CLI (only its GGUF export is used)
conv=$build/bench/hf_ggml_checkpoint
runner=$build/bench/llama_race_qforge
for b in "$qforge" "$conv" "$runner"; do
  [[ -x $b ]] || { echo "llama_race.sh: $b missing: cmake --build $build -j2 --target qforge hf_ggml_checkpoint llama_race_qforge" >&2; exit 2; }
done
[[ -d tests/gguf/llama_cpp/node_modules/node-llama-cpp ]] ||
  { echo "llama_race.sh: node-llama-cpp missing: (cd tests/gguf/llama_cpp && npm ci --omit=optional)" >&2; exit 2; }
mkdir -p "$data" "$out"
hf=$data/hf1b gguf=$data/llama1b_q4_0.gguf dense=$data/llama1b_q4_0.qf.h5 sparse=$data/llama1b_q4_0_sp24.qf.h5

step() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
[[ -f $hf/model.safetensors ]] || { step "writing $hf (random weights)"; $py bench/llama_race_model.py "$hf"; }
[[ -f $gguf ]] || { step "qforge export -> $gguf"; "$qforge" export "$hf" --format gguf --quant q4_0 -o "$gguf"; }
[[ -f $dense ]] || { step "hf_ggml_checkpoint -> $dense"; "$conv" "$hf" "$dense" --quant q4_0; }
[[ -f $sparse ]] || { step "hf_ggml_checkpoint --sparse24 -> $sparse"; "$conv" "$hf" "$sparse" --quant q4_0 --sparse24; }

report=$out/report.md
results=$out/results.jsonl
: > "$results"
{
  echo "# llama.cpp race: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Model: Llama-3.2-1B shapes, random weights ($hf). GGUF $(du -h "$gguf" | cut -f1), .qf.h5 $(du -h "$dense" | cut -f1), 2:4 .qf.h5 $(du -h "$sparse" | cut -f1)."
  echo "Command: bench/llama_race.sh --rounds $rounds --threads \"$threads\" --pp $pp --tg $tg"
  echo
  echo "## Same model? Next-token distribution after 16 ids (qforge logits vs llama.cpp probabilities)"
  echo
  echo "| qforge checkpoint | tokens with p >= 1e-6 | max abs(delta log p) | mean | KL(llama.cpp, qforge) | same top-1 (qforge / llama.cpp) | top-10 overlap | max p (qforge / llama.cpp) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
} > "$report"
ids=$(seq -s, 1000 997 16000 | cut -d, -f1-16)
step "same-model check on ids $ids"
node bench/peers/llama_cpp_race.mjs "$gguf" --threads 2 --probs "$ids" "$out/llama_probs.f32" >/dev/null
"$runner" "$dense" --threads 2 --logits "$ids" "$out/qforge_logits.f32" >/dev/null
$py bench/llama_race_report.py check "$out/qforge_logits.f32" "$out/llama_probs.f32" --label "Q4_0 (same blocks)" >> "$report"
"$runner" "$sparse" --threads 2 --logits "$ids" "$out/qforge_sp24_logits.f32" >/dev/null
$py bench/llama_race_report.py check "$out/qforge_sp24_logits.f32" "$out/llama_probs.f32" --label "Q4_0 + 2:4 (another model)" >> "$report"

tag() { sed "s/}\$/,\"threads\":$1}/"; }
for ((r = 1; r <= rounds; ++r)); do
  for t in $threads; do
    step "round $r/$rounds, $t thread(s): llama.cpp"
    node bench/peers/llama_cpp_race.mjs "$gguf" --threads "$t" --pp "$pp" --tg "$tg" | grep '^{' | tag "$t" | tee -a "$results" >&2
    step "round $r/$rounds, $t thread(s): qforge Q4_0"
    "$runner" "$dense" --threads "$t" --pp "$pp" --tg "$tg" | tag "$t" | tee -a "$results" >&2
    step "round $r/$rounds, $t thread(s): qforge Q4_0 + 2:4"
    "$runner" "$sparse" --threads "$t" --pp "$pp" --tg "$tg" | sed 's/"engine":"qforge"/"engine":"qforge 2:4"/' | tag "$t" | tee -a "$results" >&2
  done
done
{
  echo
  echo "## Tokens/s (wall clock), median (min-max) over $rounds rounds"
  echo
  $py bench/llama_race_report.py table "$results"
  echo
  echo "pp N: N prompt tokens in one batch (qforge computes the logits of all N positions, llama.cpp of the last);"
  echo "tg N: N greedy tokens after an 8-token prompt. llama.cpp: flash attention off, F16 K/V cache;"
  echo "qforge: float32 K/V cache, int8 per-token activations; llama.cpp: Q8_0 activation blocks."
} >> "$report"
cat "$report"
