#!/usr/bin/env bash
# Reproduces the FP8 table of docs/RESULTS.md: the float teacher's test accuracy, then FP8, int8,
# int4 and mixed FP8/int4 (and its int8 twin, same size) QAT from it, each exported, validated by
# the runtime, evaluated and inspected (bits per weight). Short 1-epoch QAT (bench/recipes/*_e1).
# Usage: bench/fp8_runs.sh [THREADS] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFORGE:-build/cli/qforge}
T=${1:-2}
S=${2:-1}
$Q run recipes/fashion_cnn_fp32.yaml --resume -q --threads "$T" --train-only
tail -1 runs/fashion_cnn_fp32/metrics.jsonl
for name in fashion_cnn_fp8_e1 fashion_cnn_w8a8_e1 fashion_cnn_w4a8_e1 fashion_cnn_fp8_w4_mixed_e1 \
            fashion_cnn_w8_w4_mixed_e1; do
  if [ "$S" -gt 1 ]; then
    $Q run "bench/recipes/$name.yaml" --seeds "$S" -q --threads "$T"
  else
    $Q run "bench/recipes/$name.yaml" --resume -q --threads "$T"
  fi
done
