#!/usr/bin/env bash
# The main job of README.md, end to end on Fashion-MNIST:
#   1. train the float teacher (recipes/fashion_cnn_fp32.yaml)           -> runs/fashion_cnn_fp32
#   2. compress it (recipes/fashion_cnn_w4a8_sp24_kd.yaml): QAT with int4 weights and int8
#      activations + gradual 2:4 sparsity + distillation from the teacher
#                                                                        -> runs/fashion_cnn_w4a8_sp24_kd
#   3. export the checkpoint (int4, 2:4-compressed)                      -> runs/<name>/model.qf.h5
#   4. validate it with the standalone runtime, evaluate it through the runtime (steps 1-4 are
#      `qforge run`'s pipeline; stages whose output is current are skipped)
#   5. inspect it; gate it with `qforge check` against recipes/baselines/<name>.yaml (if any)
#   6. end with the run's summary table (quality, delta vs the teacher, size, agreement, times).
# Another recipe: scripts/main.sh recipes/fashion_cnn_w4a8.yaml
# Interrupted? Run it again: finished runs are reused and unfinished ones resume.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the Brown corpus lives (train/data_paths.h reads the same variable); without HOME, keep
# it in the checkout, at an absolute path so the scripts and the tests agree.
[ -n "${HOME:-}" ] || export QFORGE_DATA="${QFORGE_DATA:-$PWD/.qforge-data}"
scripts/setup.sh
scripts/build.sh
Q=build/cli/qforge
RECIPE="${1:-recipes/fashion_cnn_w4a8_sp24_kd.yaml}"
NAME="$(basename "$RECIPE" .yaml)"
RUN="runs/$NAME"
$Q run "$RECIPE"                     # teacher first (init_from), QAT, export, validate, eval
$Q inspect "$RUN/model.qf.h5"
BASELINE="recipes/baselines/$NAME.yaml"
check_rc=0                           # a regression (1) or bad baseline (2) still ends with the summary
if [ -f "$BASELINE" ]; then
  $Q check "$RUN" --baseline "$BASELINE" --junit "$RUN/check.xml" --json "$RUN/check.json" || check_rc=$?
fi
$Q run "$RECIPE" -q 2> /dev/null     # every stage is current now: just the summary, last
exit $check_rc
