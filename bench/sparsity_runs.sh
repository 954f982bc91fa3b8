#!/usr/bin/env bash
# Reproduces the Sparsify table of docs/RESULTS.md: trains each variant (teachers are reused),
# exports it, validates it with the runtime and prints its size. Usage: bench/sparsity_runs.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFORGE:-build/cli/qforge}
T=${1:-2}
for r in recipes/fashion_cnn_w4a8_sp24.yaml bench/recipes/fashion_cnn_w4a8_sp24_oneshot.yaml \
         bench/recipes/fashion_cnn_w4a8_unstructured50.yaml bench/recipes/fashion_cnn_w4a8_unstructured80.yaml \
         recipes/brown_gpt_w4a8_sp24.yaml bench/recipes/brown_gpt_w4a8_sp24_oneshot.yaml \
         bench/recipes/brown_gpt_w4a8_unstructured50.yaml bench/recipes/brown_gpt_w4a8_unstructured80.yaml; do
  name=$(basename "$r" .yaml)
  $Q run "$r" --resume -q --threads "$T"
  $Q export "runs/$name" -o "runs/$name/model.qf.h5" >/dev/null
  $Q validate "runs/$name/model.qf.h5" | tail -1
  $Q inspect "runs/$name/model.qf.h5" | grep '^total'
done
