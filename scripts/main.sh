#!/usr/bin/env bash
# The main job of README.md, end to end on Fashion-MNIST:
#   1. train the float teacher (recipes/fashion_cnn_fp32.yaml)           -> runs/fashion_cnn_fp32
#   2. QAT: int4 weights, int8 activations, from the teacher (w4a8)      -> runs/fashion_cnn_w4a8
#   3. export the quantized checkpoint                                   -> runs/fashion_cnn_w4a8/model.qf.h5
#   4. inspect it, validate it with the standalone runtime, evaluate it through the runtime.
# Interrupted? Run it again: finished runs are reused and unfinished ones resume.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
Q=build/cli/qforge
RECIPE="${1:-recipes/fashion_cnn_w4a8.yaml}"
NAME="$(basename "$RECIPE" .yaml)"
RUN="runs/$NAME"
$Q run "$RECIPE" --resume            # trains the teacher first (init_from), then QAT
$Q export "$RUN" -o "$RUN/model.qf.h5"
$Q inspect "$RUN/model.qf.h5"
$Q validate "$RUN/model.qf.h5"
$Q eval "$RUN/model.qf.h5"
