#!/usr/bin/env bash
# N:M training methods at equal budget, over seeds (issue 22): for each seed, the float teachers
# (Fashion CNN, Brown GPT) and then 2:4 w4a8 QAT from them by four methods — gradual magnitude
# (the CNN's shipped recipe), one-shot + fine-tune, STE and SR-STE (the GPT's shipped recipe; the
# others in bench/recipes/*_sp24_*.yaml) — all seeds side by side on one GPU; prints mean ± std per method and the per-seed paired difference
# against the gradual method (same teacher), as markdown, into $OUT/sparsity_seeds.md.
#   device run, carry [".gpu-data"]: SEEDS=5 bash scripts/device/sparsity_seeds.sh
# Locally (CPU) it works too: DEV=cpu QFORGE=build/cli/qforge SEEDS=2 bash scripts/device/sparsity_seeds.sh
set -uo pipefail
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
SEEDS="${SEEDS:-5}"; DEV="${DEV:-cuda}"; THREADS="${THREADS:-3}"
W="${WORK:-/tmp/sparsity_seeds}"
if [ -d .gpu-data ]; then
  export QFORGE_DATA="$PWD/.gpu-data"
  [ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
fi
Q="${QFORGE:-build-seeds/cli/qforge}"
if [ ! -x "$Q" ]; then
  PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  cmake -S . -B build-seeds -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF \
    > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
  cmake --build build-seeds -j"$(nproc)" --target qforge > "$OUT/build.txt" 2>&1 || { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
fi
CNN="recipes/fashion_cnn_w4a8_sp24.yaml bench/recipes/fashion_cnn_w4a8_sp24_oneshot.yaml bench/recipes/fashion_cnn_w4a8_sp24_ste.yaml bench/recipes/fashion_cnn_w4a8_sp24_srste.yaml"
GPT="bench/recipes/brown_gpt_w4a8_sp24_gradual.yaml bench/recipes/brown_gpt_w4a8_sp24_oneshot.yaml bench/recipes/brown_gpt_w4a8_sp24_ste.yaml recipes/brown_gpt_w4a8_sp24.yaml"
mkdir -p "$W/recipes"
train() {  # recipe seed teacher-run-dir-or-empty
  local r=$1 s=$2 t=$3 name; name=$(basename "$r" .yaml)
  sed -E -e "s/^seed: .*/seed: $s/" ${t:+-e "s#init_from: .*#init_from: $t#"} "$r" > "$W/recipes/${name}_s$s.yaml"
  "$Q" run "$W/recipes/${name}_s$s.yaml" -o "$W/runs/$name/seed-$s" --train-only --resume -q --device "$DEV" --threads "$THREADS" \
    > "$W/log_${name}_$s.txt" 2>&1 || { echo "FAILED: $name seed $s"; tail -5 "$W/log_${name}_$s.txt"; }
}
one_seed() {
  local s=$1
  { train recipes/fashion_cnn_fp32.yaml "$s" ""; for r in $CNN; do train "$r" "$s" "$W/runs/fashion_cnn_fp32/seed-$s"; done; } &
  { train recipes/brown_gpt_fp32.yaml "$s" ""; for r in $GPT; do train "$r" "$s" "$W/runs/brown_gpt_fp32/seed-$s"; done; } &
  wait
}
echo "== $(date +%T) training $SEEDS seeds on $DEV"
for s in $(seq 0 $((SEEDS - 1))); do one_seed "$s" & done
wait
echo "== $(date +%T) done"
python3 - "$W" "$SEEDS" <<'PY' | tee "$OUT/sparsity_seeds.md"
import json, statistics as st, sys, os
w, seeds = sys.argv[1], int(sys.argv[2])
def final(name, s, key):
    p = f"{w}/runs/{name}/seed-{s}/metrics.jsonl"
    if not os.path.exists(p): return None
    recs = [json.loads(l) for l in open(p)]
    f = [r for r in recs if r.get("event") == "final"]
    return f[-1][key] if f else None
def fmt(xs): return f"{st.mean(xs):.3f} ± {st.stdev(xs):.3f}" if len(xs) > 1 else (f"{xs[0]:.3f}" if xs else "—")
for title, key, teacher, names, labels in [
    ("Fashion CNN, w4a8 + 2:4, test accuracy % (higher is better)", "accuracy", "fashion_cnn_fp32",
     ["fashion_cnn_w4a8_sp24", "fashion_cnn_w4a8_sp24_oneshot", "fashion_cnn_w4a8_sp24_ste", "fashion_cnn_w4a8_sp24_srste"],
     ["gradual (cubic, magnitude; shipped)", "one-shot + fine-tune", "STE", "SR-STE"]),
    ("Brown GPT, w4a8 + 2:4, validation bits per byte (lower is better)", "bits_per_byte", "brown_gpt_fp32",
     ["brown_gpt_w4a8_sp24_gradual", "brown_gpt_w4a8_sp24_oneshot", "brown_gpt_w4a8_sp24_ste", "brown_gpt_w4a8_sp24"],
     ["gradual (cubic, magnitude)", "one-shot + fine-tune", "STE", "SR-STE (shipped)"])]:
    print(f"\n### {title}, {seeds} seeds\n")
    print("| method | mean ± std | per seed | paired Δ vs gradual (mean ± std) |")
    print("| --- | --- | --- | --- |")
    t = [final(teacher, s, key) for s in range(seeds)]
    print(f"| float teacher | {fmt([x for x in t if x is not None])} | {', '.join('%.3f' % x for x in t if x is not None)} | |")
    base = [final(names[0], s, key) for s in range(seeds)]
    for n, label in zip(names, labels):
        v = [final(n, s, key) for s in range(seeds)]
        ok = [x for x in v if x is not None]
        d = [a - b for a, b in zip(v, base) if a is not None and b is not None]
        print(f"| {label} | {fmt(ok)} | {', '.join('%.3f' % x for x in ok)} | {'' if n == names[0] else fmt(d)} |")
PY
tar czf "$OUT/sparsity_seed_runs.tar.gz" -C "$W" runs/*/seed-*/metrics.jsonl log_*.txt 2>/dev/null
