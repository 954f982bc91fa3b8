#!/usr/bin/env bash
# Reproduces the FP8 table of docs/RESULTS.md: the float teacher's test accuracy, then FP8, int8,
# int4 and mixed FP8/int4 (and its int8 twin, same size) QAT from it, each exported, validated by
# the runtime, evaluated and inspected (bits per weight). Short QAT: 150 steps (bench/recipes/*_short).
# Usage: bench/fp8_runs.sh [THREADS] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFORGE:-build/cli/qforge}
T=${1:-2}
S=${2:-1}
# The float teacher (trained if runs/fashion_cnn_fp32 is missing), exported and evaluated by the
# runtime like the quantized runs: the float baseline of the table.
[ -f runs/fashion_cnn_fp32/checkpoint.pt ] || $Q run recipes/fashion_cnn_fp32.yaml -q --threads "$T" --train-only
$Q export runs/fashion_cnn_fp32 -o runs/fashion_cnn_fp32/model.qf.h5 >/dev/null
$Q eval runs/fashion_cnn_fp32/model.qf.h5 --threads "$T"
for name in fashion_cnn_fp8_short fashion_cnn_w8a8_short fashion_cnn_w4a8_short fashion_cnn_fp8_w4_mixed_short \
            fashion_cnn_w8_w4_mixed_short; do
  if [ "$S" -gt 1 ]; then
    $Q run "bench/recipes/$name.yaml" --seeds "$S" -q --threads "$T"
  else
    $Q run "bench/recipes/$name.yaml" --resume -q --threads "$T"
  fi
done
