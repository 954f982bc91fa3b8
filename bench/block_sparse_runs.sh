#!/usr/bin/env bash
# Reproduces the accuracy table of "Block sparsity" in docs/RESULTS.md: fine-tunes the dense w8a8 /
# w4a8 twins of the same short budget (bench/recipes/*_short.yaml) and the 32x32 block-sparse
# recipes (50%, 70%) from the same float run, exports each,
# validates it with the runtime and prints its accuracy and size. The float baseline is the run
# recipes/fashion_cnn_fp32.yaml names (trained first if runs/fashion_cnn_fp32 is missing).
# Usage: bench/block_sparse_runs.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFORGE:-build/cli/qforge}
T=${1:-2}
for r in bench/recipes/fashion_cnn_w8a8_dense_twin.yaml recipes/fashion_cnn_w8a8_bs32_50.yaml recipes/fashion_cnn_w8a8_bs32_70.yaml \
         bench/recipes/fashion_cnn_w4a8_dense_twin.yaml recipes/fashion_cnn_w4a8_bs32_50.yaml recipes/fashion_cnn_w4a8_bs32_70.yaml; do
  name=$(basename "$r" .yaml)
  $Q run "$r" --resume -q --threads "$T"
  $Q export "runs/$name" -o "runs/$name/model.qf.h5" >/dev/null
  echo "== $name: $(grep '"final"' "runs/$name/metrics.jsonl")"
  $Q validate "runs/$name/model.qf.h5" | tail -1
  $Q inspect "runs/$name/model.qf.h5" | grep -E 'bs_int|^total'
done
echo "== fashion_cnn_fp32: $(grep '"final"' runs/fashion_cnn_fp32/metrics.jsonl)"
