#!/usr/bin/env bash
# On the GPU machine (device tool), in one call: the `cuda` kernel table end to end. Builds the
# runtime, the CUDA tests and cuda_graph_bench (LibTorch-free), runs the CUDA tests (the table
# entry by entry against the ref table, a small GPT end to end), compute-sanitizer memcheck on
# the table and graph tests, then validate + greedy decode tokens/s on the CPU and cuda tables
# for every checkpoint in $CKPT_DIR. Logs go to $OUT.
#   device run: bash scripts/device/cuda_graph.sh [SRC_BUNDLE]
# SRC_BUNDLE (optional): a git bundle of the branch to build instead of the working tree (the
# device tool copies /work/main's tree; a helper's branch travels as .dev-<name>/*.bundle).
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
ROOT="$(pwd)"
CKPT_DIR="${CKPT_DIR:-$ROOT/.dev-cudagraph}"
SRC="$ROOT"
if [ -n "${1:-}" ]; then
  SRC=/tmp/qf-src
  rm -rf "$SRC" && git clone -q "$1" "$SRC" -b "${BRANCH:-cudagraph}" || { echo "cannot clone $1"; exit 1; }
fi
B=/tmp/qf-cuda-graph-build
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv | tee -a "$OUT/summary.txt"
log "source $(git -C "$SRC" log --oneline -1 2>/dev/null)"
log "configure"
GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
cmake -S "$SRC" -B $B $GEN -DCMAKE_BUILD_TYPE=Release -DQFORGE_WITH_TORCH=OFF -DQFORGE_CUDA=ON -DQFORGE_CUDA_KERNEL_VARIANTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/build.txt" 2>&1 || { tail -30 "$OUT/build.txt"; exit 1; }
log "build"
cmake --build $B -j16 --target qforge_cuda_tests cuda_graph_bench >> "$OUT/build.txt" 2>&1 ||
  { grep -E -B2 -A6 "error" "$OUT/build.txt" | head -150; exit 1; }
log "tests"
$B/tests/runtime_cuda/qforge_cuda_tests > "$OUT/tests.txt" 2>&1
rc_tests=$?
grep -E "FAILED|Failure|Expected|Which is|max |error|\[  PASSED|tests ran|SKIPPED" "$OUT/tests.txt" | head -80
log "compute-sanitizer memcheck (the table and graph tests)"
compute-sanitizer --tool memcheck --error-exitcode 9 $B/tests/runtime_cuda/qforge_cuda_tests \
  --gtest_filter='CudaTable.*:CudaGraph.*' > "$OUT/memcheck.txt" 2>&1
rc_mem=$?
grep -E "ERROR SUMMARY|\[  PASSED|FAILED|Invalid" "$OUT/memcheck.txt" | head -20
log "tests rc=$rc_tests memcheck rc=$rc_mem"
log "validate + decode bench, CPU table vs cuda table"
ls -la "$CKPT_DIR"/*.qf.h5 | tee -a "$OUT/summary.txt"
$B/bench/cuda/cuda_graph_bench --prompt 16 --tokens 48 "$CKPT_DIR"/*.qf.h5 > "$OUT/graph_bench.txt" 2>&1
echo "rc=$?" >> "$OUT/graph_bench.txt"
grep -v "^  op " "$OUT/graph_bench.txt" | head -120
$B/bench/cuda/cuda_graph_bench --prompt 16 --tokens 48 --batch 8 "$CKPT_DIR"/*gpt*.qf.h5 > "$OUT/graph_bench_b8.txt" 2>&1
grep -E "^##|^\||decode:|agreement|error" "$OUT/graph_bench_b8.txt"
# Random-weight GPTs (bench/random_gpt, made on the CPU machine) at sizes where the GPU should
# pay off: a longer prompt and more steps, batch 1 and 8.
if ls "$CKPT_DIR"/random_gpt*.qf.h5 >/dev/null 2>&1; then
  for b in 1 8; do
    $B/bench/cuda/cuda_graph_bench --prompt 128 --tokens 120 --batch $b "$CKPT_DIR"/random_gpt*.qf.h5 > "$OUT/graph_bench_random_b$b.txt" 2>&1
    grep -E "^##|^\||decode:|agreement|error" "$OUT/graph_bench_random_b$b.txt"
  done
  # The drift baseline: the ref table in the cuda table's place (two CPU tables on the same steps).
  echo "## drift baseline: QF_GRAPH_BENCH_TABLE=ref" >> "$OUT/graph_bench_random_b1.txt"
  QF_GRAPH_BENCH_TABLE=ref $B/bench/cuda/cuda_graph_bench --prompt 128 --tokens 120 --batch 1 \
    "$CKPT_DIR"/random_gpt*.qf.h5 >> "$OUT/graph_bench_random_b1.txt" 2>&1
  grep -A8 "drift baseline" "$OUT/graph_bench_random_b1.txt" | grep -E "^\||agreement"
fi
log "done"
