#!/usr/bin/env bash
# Builds qforge on the GPU machine against its PyTorch 2.x LibTorch (CUDA) and runs the tests and
# a short QAT run with --device cuda. Fashion-MNIST is carried in .gpu-data/ (no Debian package
# there). Writes logs under $OUT. Usage (device tool): bash scripts/device/gpu_check.sh
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
cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
  > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
log "build"
cmake --build /tmp/qf-build -j16 > "$OUT/build.txt" 2>&1 || { grep -E "error|Error" "$OUT/build.txt" | head -40; exit 1; }
log "tests"
ctest --test-dir /tmp/qf-build -j8 --output-on-failure > "$OUT/ctest.txt" 2>&1
tail -15 "$OUT/ctest.txt"
log "QAT on cuda"
sed -e "s|dataset: fashion_mnist|dataset: fashion_mnist\n  path: $PWD/.gpu-data/fashion-mnist|" recipes/fashion_cnn_w4a8.yaml \
  | sed -e 's|  init_from: fashion_cnn_fp32.yaml.*||' -e 's|epochs: 3|epochs: 2|' > /tmp/gpu_w4a8.yaml
/tmp/qf-build/cli/qforge run /tmp/gpu_w4a8.yaml --device cuda -o /tmp/gpu_run 2>&1 | tail -4 | tee -a "$OUT/summary.txt"
/tmp/qf-build/cli/qforge export /tmp/gpu_run -o /tmp/gpu_run/model.qf.h5 2>&1 | tee -a "$OUT/summary.txt"
/tmp/qf-build/cli/qforge validate /tmp/gpu_run/model.qf.h5 2>&1 | tee -a "$OUT/summary.txt"
