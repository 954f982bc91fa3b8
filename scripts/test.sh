#!/usr/bin/env bash
# The test command of README.md: set-up, build, then every GoogleTest suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
