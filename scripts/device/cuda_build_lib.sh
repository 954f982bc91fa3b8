# Sourced by the scripts/device/ scripts that build the LibTorch-free CUDA targets on the GPU
# machine: sets OUT (default /tmp/out), log() and cuda_build.
#   source "$(dirname "$0")/cuda_build_lib.sh"
#   cuda_build BUILD_DIR TARGET... || exit 1   # GPU line, configure (sm_90, no tokenizer), build
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
cuda_build() {
  local b=$1 gen=""
  shift
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$OUT/summary.txt"
  log "configure"
  command -v ninja >/dev/null && gen="-G Ninja"
  cmake -S . -B "$b" $gen -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DQFORGE_WITH_TOKENIZER=OFF > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; return 1; }
  log "build"
  cmake --build "$b" -j16 --target "$@" >> "$OUT/build.txt" 2>&1 ||
    { grep -E -A3 "error" "$OUT/build.txt" | head -120; return 1; }
}
