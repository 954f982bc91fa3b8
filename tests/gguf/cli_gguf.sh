#!/usr/bin/env bash
# `qforge export SOURCE --format gguf` end to end:
#  1. a Hugging Face folder (the transformers Llama fixture + its BPE tokenizer) -> F32 / Q8_0 /
#     Q4_0 GGUFs identical, key for key and byte for byte, to the ones make_fixture_gguf writes
#     through the library (the files llama.cpp's oracle test runs);
#     The Qwen2, Qwen3 and Mixtral fixtures likewise (F32, Q4_0) against make_fixture_gguf's files;
#  2. bad input: unknown --quant, unknown --tensor-type tensor, no tokenizer, no -o;
#  3. a QAT run trained with `weights: {format: q4_0}` (4 CPU steps on Brown) -> a Q4_0 GGUF whose
#     blocks the exporter proved to be the run's trained ones; re-quantizing it as Q8_0 is refused;
#     --quant f32 of the same run dequantizes to the same weights as the Q4_0 file.
#     The same run also exports to .qf.h5 (the blocks as int8 codes + block scales) and validates.
# Skips step 3 (exit 0 with a message) when the Brown corpus is missing.
#   cli_gguf.sh QFORGE GGUF_DIFF FIXTURES MAKE_FIXTURE_OUT WORK_DIR
set -euo pipefail
QF="$1"; DIFF="$2"; FIX="$3"; REF="$4"; OUT="$5"
rm -rf "$OUT"; mkdir -p "$OUT/llama"
cp "$FIX"/llama/config.json "$FIX"/llama/model.safetensors "$FIX"/tokenizer_bpe/tokenizer.json \
   "$FIX"/tokenizer_bpe/tokenizer_config.json "$OUT/llama/"
for q in f32 q8_0 q4_0; do
  "$QF" export "$OUT/llama" --format gguf --quant $q -o "$OUT/cli_$q.gguf"
  "$DIFF" "$OUT/cli_$q.gguf" "$REF/llama_$q.gguf"
done
[ ! -e "$OUT/cli_q4_0.gguf.tmp" ] || { echo "FAIL: temporary file left behind"; exit 1; }
# Qwen2 (q/k/v biases), Qwen3 (q/k norms) and Mixtral (stacked experts): the same files as the library's.
for arch in qwen2 qwen3 mixtral; do
  mkdir -p "$OUT/$arch"
  cp "$FIX"/$arch/config.json "$FIX"/$arch/model.safetensors "$FIX"/tokenizer_bpe/tokenizer.json \
     "$FIX"/tokenizer_bpe/tokenizer_config.json "$OUT/$arch/"
  for q in f32 q4_0; do
    "$QF" export "$OUT/$arch" --format gguf --quant $q -o "$OUT/cli_${arch}_$q.gguf"
    "$DIFF" "$OUT/cli_${arch}_$q.gguf" "$REF/${arch}_$q.gguf"
  done
done

expect_error() {  # pattern, command...
  local pat="$1"; shift
  if "$@" > "$OUT/err.txt" 2>&1; then echo "FAIL: succeeded: $*"; exit 1; fi
  grep -q -- "$pat" "$OUT/err.txt" || { echo "FAIL: '$*' did not say '$pat':"; cat "$OUT/err.txt"; exit 1; }
  echo "ok (refused: $pat)"
}
expect_error "q5_0" "$QF" export "$OUT/llama" --format gguf --quant q5_0 -o "$OUT/x.gguf"
expect_error "no tensor of that name" "$QF" export "$OUT/llama" --format gguf --tensor-type blk.9.ffn_up.weight=f32 -o "$OUT/x.gguf"
expect_error "NAME=TYPE" "$QF" export "$OUT/llama" --format gguf --tensor-type token_embd.weight -o "$OUT/x.gguf"
expect_error "needs -o" "$QF" export "$OUT/llama" --format gguf
expect_error "tokenizer" "$QF" export "$FIX/llama" --format gguf -o "$OUT/x.gguf"
[ ! -e "$OUT/x.gguf" ] || { echo "FAIL: a refused export left $OUT/x.gguf"; exit 1; }

cat > "$OUT/q4_0.yaml" <<YAML
name: gguf_q4_0
model: {family: hf, path: $OUT/llama, context: 24}
data: {dataset: brown, batch_size: 4, eval_batches: 1}
train: {steps: 4, steps_per_epoch: 2, optimizer: {type: adamw, lr: 0.001}}
modifiers:
  - quantization: {kinds: [linear], weights: {format: q4_0}}
  - distillation: {teacher: self, temperature: 1.0, alpha: 0.0}
YAML
if ! "$QF" run "$OUT/q4_0.yaml" -o "$OUT/run" --train-only -q --threads 2 > "$OUT/run.txt" 2>&1; then
  if grep -q "Brown corpus not found" "$OUT/run.txt"; then echo "SKIPPED step 3: Brown corpus missing"; exit 0; fi
  cat "$OUT/run.txt"; exit 1
fi
"$QF" export "$OUT/run" --format gguf -o "$OUT/run_q4_0.gguf" | tee "$OUT/export.txt"
grep -q "hold the run's trained q4_0 blocks exactly" "$OUT/export.txt" || { echo "FAIL: no exactness check reported"; exit 1; }
expect_error "re-quantize" "$QF" export "$OUT/run" --format gguf --quant q8_0 -o "$OUT/x.gguf"
# The same run as a .qf.h5 checkpoint: the writer stores the trained blocks, the runtime validates it.
"$QF" export "$OUT/run" -o "$OUT/run.qf.h5" > "$OUT/export_qf.txt" 2>&1 || { cat "$OUT/export_qf.txt"; echo "FAIL: .qf.h5 export"; exit 1; }
"$QF" validate "$OUT/run.qf.h5" --threads 2 > "$OUT/validate.txt" 2>&1 || { cat "$OUT/validate.txt"; echo "FAIL: validate"; exit 1; }
grep -q "PASS" "$OUT/validate.txt" || { cat "$OUT/validate.txt"; echo "FAIL: validate did not pass"; exit 1; }
"$QF" export "$OUT/run" --format gguf --quant f32 -o "$OUT/run_f32.gguf"
# The run's Q4_0 file dequantizes to exactly the trained weights (its F32 export) ...
"$DIFF" --values "$OUT/run_q4_0.gguf" "$OUT/run_f32.gguf"
# ... and has the layout of RTN from the folder with the embedding kept F32 (same keys, names,
# types), but not its data: training moved the weights.
"$QF" export "$OUT/llama" --format gguf --quant q4_0 --tensor-type token_embd.weight=f32 -o "$OUT/ptq_q4_0.gguf"
"$DIFF" "$OUT/run_q4_0.gguf" "$OUT/ptq_q4_0.gguf" > "$OUT/ptq_diff.txt" || true
grep -q "data of blk.0.attn_q.weight" "$OUT/ptq_diff.txt" || { echo "FAIL: training changed nothing?"; cat "$OUT/ptq_diff.txt"; exit 1; }
if grep -v "^differs: data of" "$OUT/ptq_diff.txt" | grep -q "^differs"; then echo "FAIL: layout differs"; cat "$OUT/ptq_diff.txt"; exit 1; fi
echo "PASS"
