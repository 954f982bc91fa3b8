#!/usr/bin/env bash
# The llama.cpp race (issue 20; docs/RESULTS.md "GGUF: the race against llama.cpp"): the same
# Q4_0 weights of a Llama-3.2-1B-shaped model with random weights, run by llama.cpp (node-llama-cpp
# 3.21.1's prebuilt CPU binaries, llama.cpp 5b4ebc5) and by qforge's runtime, same machine, same
# thread count; prompt processing and generation tokens/s, interleaved, repeated. qforge also runs
# the 2:4-pruned Q4_0 model, which llama.cpp cannot run.
#
#   bench/llama_race.sh [--rounds 3] [--threads "1 2"] [--pp 128,512] [--tg 128] [--build DIR]
#                       [--data DIR] [--out DIR] [--qforge BIN] [--shape 1b|tiny]
#
# --shape tiny: the same pipeline on a 2-layer, hidden-64 model (seconds: a check of the tooling).
# Once (kept in --data, default bench/out/llama_race_data, ~6 GB): the Hugging Face folder
# (bench/llama_race_model.py, bf16), its GGUF (`qforge export --format gguf --quant q4_0`), the
# .qf.h5 with the same Q4_0 blocks and the 2:4 one (bench/hf_ggml_checkpoint). Then a same-model
# check (next-token distribution after 16 ids, qforge vs llama.cpp) and R rounds of
# llama.cpp -> qforge Q4_0 -> qforge Q4_0 + 2:4 at each thread count (llama.cpp a fresh process
# each time, bench/peers/llama_cpp_race.mjs; qforge one server process holding both checkpoints,
# bench/llama_race_qforge --serve). Report: OUT/report.md
# (default bench/out/llama_race). Needs: a build with the targets qforge, hf_ggml_checkpoint and
# llama_race_qforge; node-llama-cpp (cd tests/gguf/llama_cpp && npm ci --omit=optional);
# /usr/bin/python3 with numpy.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 threads="1 2" pp=128,512 tg=128 build=build data=bench/out/llama_race_data out=bench/out/llama_race qforge_bin= shape=1b
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
    --shape) shape=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
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
hf=$data/hf_$shape gguf=$data/llama_${shape}_q4_0.gguf dense=$data/llama_${shape}_q4_0.qf.h5
sparse=$data/llama_${shape}_q4_0_sp24.qf.h5

step() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
[[ -f $hf/model.safetensors ]] || { step "writing $hf (random weights)"; $py bench/llama_race_model.py "$hf" --shape "$shape"; }
[[ -f $gguf ]] || { step "qforge export -> $gguf"; "$qforge" export "$hf" --format gguf --quant q4_0 -o "$gguf"; }
[[ -f $dense ]] || { step "hf_ggml_checkpoint -> $dense"; "$conv" "$hf" "$dense" --quant q4_0; }
[[ -f $sparse ]] || { step "hf_ggml_checkpoint --sparse24 -> $sparse"; "$conv" "$hf" "$sparse" --quant q4_0 --sparse24; }

report=$out/report.md
results=$out/results.jsonl
: > "$results"
# qforge: one process holds both checkpoints (loading a 1B .qf.h5 reads, verifies and packs 1.6 GB:
# tens of seconds), loaded while llama.cpp runs the same-model check, and answers commands.
step "loading the qforge checkpoints (server)"
coproc QF { exec "$runner" --serve "$dense" "$sparse" --labels "qforge,qforge 2:4" 2>>"$out/qforge_stderr.log"; }
qf_in=${QF[1]} qf_out=${QF[0]}
qf() {  # qf COMMAND...: one command to the qforge server; prints its answer lines
  echo "$*" >&"$qf_in"
  local line
  while IFS= read -r line <&"$qf_out"; do
    [[ $line == '{"done":1}' ]] && return 0
    echo "$line"
  done
  echo "llama_race.sh: the qforge server stopped (see $out/qforge_stderr.log)" >&2
  exit 1
}
{
  echo "# llama.cpp race: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Model: $shape (1b: Llama-3.2-1B's shapes), random weights ($hf). GGUF $(du -h "$gguf" | cut -f1), .qf.h5 $(du -h "$dense" | cut -f1), 2:4 .qf.h5 $(du -h "$sparse" | cut -f1)."
  echo "Command: bench/llama_race.sh --rounds $rounds --threads \"$threads\" --pp $pp --tg $tg"
  echo
  echo "## Same model? Next-token distribution after 16 ids (qforge logits vs llama.cpp probabilities)"
  echo
  echo "| qforge checkpoint | tokens with p >= 1e-6 | max abs(delta log p) | mean | KL(llama.cpp, qforge) | same top-1 (qforge / llama.cpp) | top-10 overlap | max p (qforge / llama.cpp) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
} > "$report"
ids=$($py -c "import json; v = json.load(open('$hf/config.json'))['vocab_size']; print(','.join(str((1000 + 997 * i) % (v - 256)) for i in range(16)))")
step "same-model check on ids $ids"
node bench/peers/llama_cpp_race.mjs "$gguf" --threads 1 --probs "$ids" "$out/llama_probs.f32" >/dev/null
IFS= read -r ready <&"$qf_out"
[[ $ready == '{"ready":1}' ]] || { echo "llama_race.sh: qforge server did not start: $ready (see $out/qforge_stderr.log)" >&2; exit 1; }
qf L 0 "$ids" "$out/qforge_logits.f32" >/dev/null
qf L 1 "$ids" "$out/qforge_sp24_logits.f32" >/dev/null
$py bench/llama_race_report.py check "$out/qforge_logits.f32" "$out/llama_probs.f32" --label "Q4_0 (the same blocks)" >> "$report"
$py bench/llama_race_report.py check "$out/qforge_sp24_logits.f32" "$out/llama_probs.f32" --label "Q4_0 + 2:4 (a pruned model)" >> "$report"

tag() { sed "s/}\$/,\"threads\":$1}/"; }
for ((r = 1; r <= rounds; ++r)); do
  for t in $threads; do
    step "round $r/$rounds, $t thread(s): llama.cpp"
    node bench/peers/llama_cpp_race.mjs "$gguf" --threads "$t" --pp "$pp" --tg "$tg" | grep '^{' | tag "$t" | tee -a "$results" >&2
    step "round $r/$rounds, $t thread(s): qforge Q4_0"
    qf 0 "$t" "$pp" "$tg" > "$out/answer.jsonl"  # not in a pipeline: subshells lose the coprocess' descriptors
    tag "$t" < "$out/answer.jsonl" | tee -a "$results" >&2
    step "round $r/$rounds, $t thread(s): qforge Q4_0 + 2:4"
    qf 1 "$t" "$pp" "$tg" > "$out/answer.jsonl"
    tag "$t" < "$out/answer.jsonl" | tee -a "$results" >&2
  done
done
exec {qf_in}>&-  # the server ends at end of input
wait "$QF_PID" 2>/dev/null || true
{
  echo
  echo "## Tokens/s (wall clock), median (min-max) over $rounds rounds"
  echo
  $py bench/llama_race_report.py table "$results"
  echo
  echo "## Tokens per CPU second of the process (every thread), median (min-max) over $rounds rounds"
  echo
  echo "The measure for a loaded machine at 1 thread (a busy machine stretches the wall clock, not the"
  echo "CPU time); at 2 threads it also counts time spent spinning at barriers, so read it with care."
  echo
  $py bench/llama_race_report.py table "$results" --cpu
  echo
  echo "pp N: N prompt tokens in one batch (both compute the logits of the last position only: qforge's"
  echo "Engine::set_last_position_outputs, llama_race_qforge --all-logits for all N);"
  echo "tg N: N greedy tokens after an 8-token prompt. llama.cpp: flash attention off, F16 K/V cache, Q8_0"
  echo "activation blocks; qforge: float32 K/V cache, int8 per-token activations. Each llama.cpp run is a fresh"
  echo "process (mmap'd GGUF, warm page cache); qforge's server loaded both checkpoints once."
} >> "$report"
cat "$report"
