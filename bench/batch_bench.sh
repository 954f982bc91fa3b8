#!/usr/bin/env bash
# Continuous batching against one prompt at a time (docs/RESULTS.md, "Continuous batching"):
# `qforge generate MODEL --prompts FILE` with --batch B and with --batch 1, interleaved, ROUNDS
# times. Measures CPU time (user + sys of the whole process, one kernel thread: the machine is
# shared, so wall time would measure the neighbours) and checks that every batched output is
# byte for byte the one-at-a-time output.
#   bench/batch_bench.sh QFORGE MODEL PROMPTS [ROUNDS=3] [BYTES=64] [BATCHES="16"]
set -euo pipefail
Q=$1 M=$2 P=$3 ROUNDS=${4:-3} N=${5:-64} BATCHES=${6:-16}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cpu() {  # batch -> prints CPU seconds; output in $T/out_<batch>.txt
  /usr/bin/time -f "%U %S" -o "$T/time" "$Q" generate "$M" --prompts "$P" --batch "$1" -t 0 -n "$N" --threads 1 \
    --prefix-cache-mb 0 --stats > "$T/out_$1.txt" 2> "$T/err_$1.txt"
  awk '{print $1 + $2}' "$T/time"
}
tokens=$(( $(grep -c . "$P") * N ))
echo "model $M, $(grep -c . "$P") prompts, $N bytes each (stop: none), $ROUNDS rounds, CPU s (user + sys)"
declare -A sum
for r in $(seq "$ROUNDS"); do
  one=$(cpu 1)
  line="round $r: batch 1: ${one} s"
  for b in $BATCHES; do
    t=$(cpu "$b")
    cmp -s "$T/out_1.txt" "$T/out_$b.txt" || { echo "batch $b output differs from one at a time"; exit 1; }
    ratio=$(awk -v a="$one" -v b="$t" 'BEGIN{printf "%.3f", a / b}')
    line+="; batch $b: ${t} s (${ratio}x)"
    sum[$b]+="$ratio "
  done
  echo "$line"
done
for b in $BATCHES; do
  echo "batch $b / one at a time, tokens per CPU s: $(echo "${sum[$b]}" | awk '{n = NF; for (i = 1; i <= n; ++i) { s += $i; q += $i * $i } m = s / n; printf "%.3f ± %.3f (n = %d)", m, sqrt((q - n * m * m) / (n > 1 ? n - 1 : 1)), n}')"
done
echo "outputs identical to one at a time: yes ($tokens tokens per run)"
grep "\[generate\]" "$T"/err_*.txt || true
