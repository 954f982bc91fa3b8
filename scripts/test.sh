#!/usr/bin/env bash
# The test command of README.md: set-up, build, then every GoogleTest suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the Brown corpus lives (train/data_paths.h reads the same variable); without HOME, keep
# it in the checkout, at an absolute path so the scripts and the tests agree.
[ -n "${HOME:-}" ] || export QFORGE_DATA="${QFORGE_DATA:-$PWD/.qforge-data}"
t0=$SECONDS
scripts/setup.sh
t1=$SECONDS
scripts/build.sh
t2=$SECONDS
ctest --test-dir build --output-on-failure -j"$(nproc)"
t3=$SECONDS
echo "test.sh: set-up $((t1 - t0)) s, build $((t2 - t1)) s, tests $((t3 - t2)) s"
