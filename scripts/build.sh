#!/usr/bin/env bash
# Configures (Release) and builds qforge into ./build. Extra arguments go to CMake's configure.
# A unity build (CMAKE_UNITY_BUILD, batches of 8 sources per target): every LibTorch source
# parses and optimizes torch's headers once per batch instead of once per file, which halves a
# fresh build on 2 cores (the qat library: 137 s of compiler time file by file, 32 s as one
# batch). For editing, configure your own build directory without it (and with ccache):
# `-DCMAKE_UNITY_BUILD=OFF` here, or configure a build directory of your own (README.md).
# Ninja where it is installed (scripts/setup.sh installs it) and the build directory is new: a
# directory configured with another generator keeps it (CMake refuses to switch).
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
[[ ! -f build/CMakeCache.txt ]] && command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON "$@" >/dev/null
cmake --build build -j"$(nproc)"
