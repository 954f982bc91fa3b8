#!/usr/bin/env bash
# Mixture of experts vs dense on the Brown GPT (docs/RESULTS.md, "Mixture of experts"): trains,
# exports, validates and evaluates (runtime perplexity) the five recipes, then prints one table
# and the expert load of each MoE checkpoint on its golden inputs (qforge inspect).
#   bench/moe_brown.sh [QFORGE] [RUNS_DIR]
set -euo pipefail
QF=${1:-build/cli/qforge}
RUNS=${2:-runs}
recipes=(brown_gpt_moe_dense_fp32 brown_gpt_moe_fp32 brown_gpt_moe_fallback_fp32 brown_gpt_moe_dense_w4a8 brown_gpt_moe_w4a8)
for r in "${recipes[@]}"; do
  "$QF" run "recipes/$r.yaml" -o "$RUNS/$r" --threads 1 > "$RUNS/$r.log" 2>&1 || { echo "$r failed (see $RUNS/$r.log)"; exit 1; }
done
/usr/bin/python3 - "$RUNS" "${recipes[@]}" <<'PY'
import json, sys
runs, names = sys.argv[1], sys.argv[2:]
print("| recipe | runtime perplexity | bits/byte | validate |")
print("| --- | --- | --- | --- |")
for n in names:
    s = json.load(open(f"{runs}/{n}/summary.json"))
    m = s["metrics"]
    print(f"| {n} | {m['perplexity']:.3f} | {m['bits_per_byte']:.4f} | {'PASS' if m['validate'] == 1 else 'FAIL'} |")
PY
for r in brown_gpt_moe_fp32 brown_gpt_moe_fallback_fp32 brown_gpt_moe_w4a8; do
  echo "== $r"; "$QF" inspect "$RUNS/$r/model.qf.h5" | sed -n '/expert load/,$p'
done
