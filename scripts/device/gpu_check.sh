#!/usr/bin/env bash
# Builds qforge on the GPU machine against its PyTorch 2.x LibTorch (CUDA) and runs the tests and
# the whole loop with --device cuda. Fashion-MNIST and the Brown corpus are carried in .gpu-data/
# (no Debian package or npm there; copy them there first). Writes logs under $OUT. Usage (device tool): bash scripts/device/gpu_check.sh
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda)'
  for lib in hdf5 yaml-cpp gtest; do ls /usr/lib/x86_64-linux-gnu/ | grep -i "lib${lib}" | head -3; done
  ls /usr/include/CLI/CLI.hpp /usr/include/eigen3/Eigen/Core 2>&1
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"
# The tests read Fashion-MNIST where Debian's package puts it.
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
log "configure"
cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
log "build"
cmake --build /tmp/qf-build -j16 > "$OUT/build.txt" 2>&1 || { grep -E "error|Error" "$OUT/build.txt" | head -40; exit 1; }
log "tests"
QFORGE_DATA="$PWD/.gpu-data" ctest --test-dir /tmp/qf-build -j8 --output-on-failure > "$OUT/ctest.txt" 2>&1
tail -15 "$OUT/ctest.txt"
export QFORGE_DATA="$PWD/.gpu-data"   # the Brown corpus, carried
log "whole loop on cuda: teacher, then QAT + 2:4 + distillation"
Q=/tmp/qf-build/cli/qforge
for r in recipes/fashion_cnn_w4a8_sp24_kd.yaml recipes/brown_gpt_w4a8_sp24.yaml; do
  name=$(basename "$r" .yaml)
  $Q run "$r" --device cuda -q 2>&1 | tail -2 | tee -a "$OUT/summary.txt"
  $Q export "runs/$name" -o "runs/$name/model.qf.h5" 2>&1 | tee -a "$OUT/summary.txt"
  $Q validate "runs/$name/model.qf.h5" 2>&1 | tail -1 | tee -a "$OUT/summary.txt"
  $Q inspect "runs/$name/model.qf.h5" | grep '^total' | tee -a "$OUT/summary.txt"
done
for f in runs/*/metrics.jsonl; do echo "$f: $(grep -E '"(epoch|final)"' "$f" | tail -1 | cut -c1-160)"; done | tee -a "$OUT/summary.txt"
