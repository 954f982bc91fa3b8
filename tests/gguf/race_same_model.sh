#!/usr/bin/env bash
# The llama.cpp race's same-model check on the transformers Llama fixture (the 1B model of
# bench/llama_race.sh is not for CI): the Hugging Face folder -> `qforge export --format gguf
# --quant q4_0` (llama.cpp runs it) and -> bench/hf_ggml_checkpoint (the same Q4_0 blocks as
# .qf.h5, the runtime runs it). The next-token distributions after the same 12 ids must agree:
# same argmax and max |delta log p| below 0.25 over the tokens llama.cpp gives p >= 1e-6 (the two
# differ only in activation rounding: llama.cpp's Q8_0 blocks vs the runtime's int8 per token, and
# llama.cpp's F16 K/V cache; a wrong block, scale sign or layout is O(1), see export/GGUF.md).
# Exit 77 (skipped) without node-llama-cpp.
#   race_same_model.sh QFORGE HF_GGML_CHECKPOINT LLAMA_RACE_QFORGE FIXTURES WORK_DIR
set -euo pipefail
QF="$1"; CONV="$2"; RUNNER="$3"; FIX="$4"; OUT="$5"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
[[ -d $ROOT/tests/gguf/llama_cpp/node_modules/node-llama-cpp ]] ||
  { echo "SKIPPED: node-llama-cpp is not installed (cd tests/gguf/llama_cpp && npm ci --omit=optional)"; exit 77; }
rm -rf "$OUT"; mkdir -p "$OUT/llama"
cp "$FIX"/llama/config.json "$FIX"/llama/model.safetensors "$FIX"/tokenizer_bpe/tokenizer.json \
   "$FIX"/tokenizer_bpe/tokenizer_config.json "$OUT/llama/"
"$QF" export "$OUT/llama" --format gguf --quant q4_0 -o "$OUT/q4_0.gguf"
"$CONV" "$OUT/llama" "$OUT/q4_0.qf.h5" --quant q4_0 2>/dev/null
ids=3,141,59,265,358,97,93,238,462,64,33,83
"$RUNNER" "$OUT/q4_0.qf.h5" --logits "$ids" "$OUT/qforge_logits.f32" 2>/dev/null
node "$ROOT/bench/peers/llama_cpp_race.mjs" "$OUT/q4_0.gguf" --threads 1 --probs "$ids" "$OUT/llama_probs.f32" 2>/dev/null
/usr/bin/python3 - "$OUT/qforge_logits.f32" "$OUT/llama_probs.f32" <<'PY'
import sys
import numpy as np
q = np.fromfile(sys.argv[1], dtype=np.float32).astype(np.float64)
p = np.fromfile(sys.argv[2], dtype=np.float32).astype(np.float64)
lq = q - q.max(); lq -= np.log(np.exp(lq).sum())
m = p >= 1e-6
d = np.abs(np.log(p[m]) - lq[m])
print(f"{m.sum()} tokens: max |delta log p| {d.max():.4f}, mean {d.mean():.4f}; argmax qforge {lq.argmax()} llama.cpp {p.argmax()}")
ok = d.max() < 0.25 and lq.argmax() == p.argmax() and m.sum() > 100
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
