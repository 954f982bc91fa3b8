#!/usr/bin/env bash
# Data-parallel scaling on 1, 2, 4 (8) GPUs of one host, NCCL, one process per GPU (issues 23, 25).
# On the device tool's multi-GPU kinds, with the Brown corpus carried in .gpu-data/:
#   run(kind="nvidia-h100-x4", carry=[".gpu-data"], command="NPROCS='1 2 4' bash scripts/device/dp_scaling.sh")
# Builds qforge against the machine's PyTorch 2.x LibTorch (NCCL path: train/distributed_c10d.cpp)
# into build-device/ (kept between calls on a warm machine), then trains RECIPE (default
# recipes/brown_gpt_w4a8_dp.yaml) with --nproc N for each N in NPROCS at the same global batch and
# step count, and writes $OUT/dp_scaling.txt: samples/s and tokens/s per GPU, scaling efficiency
# (N-GPU throughput / (N x 1-GPU throughput)), the time the compute stream stalled on gradient
# all-reduces (CUDA events around the waits: communication not hidden behind backward), and each
# run's final validation perplexity.
#   STEPS=S   a shorter schedule (train.steps S, 3 epochs of S/3 steps) to save device time
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
# NVLink multicast stays off (device documentation); qforge's launcher forces these too.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export QFORGE_DATA="$PWD/.gpu-data"
RECIPE="${RECIPE:-recipes/brown_gpt_w4a8_dp.yaml}"
NPROCS="${NPROCS:-1 2}"
STEPS="${STEPS:-}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/dp_scaling.txt"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/dp_scaling.txt"
nvidia-smi topo -m > "$OUT/topology.txt" 2>&1
PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
if [ ! -x build-device/cli/qforge ]; then
  log "configure + build (LibTorch $(python3 -c 'import torch;print(torch.__version__)'))"
  cmake -S . -B build-device -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DQFORGE_BUILD_TESTS=OFF > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
  grep "data parallelism" "$OUT/configure.txt" | tee -a "$OUT/dp_scaling.txt"
  cmake --build build-device -j"$(nproc)" --target qforge > "$OUT/build.txt" 2>&1 || { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
fi
Q=build-device/cli/qforge
if [ -n "$STEPS" ]; then
  sed -E -e "s/^  steps: [0-9]+/  steps: $STEPS/" -e "s/^  steps_per_epoch: [0-9]+/  steps_per_epoch: $((STEPS / 3))/" \
    "$RECIPE" > /tmp/dp_recipe.yaml && RECIPE=/tmp/dp_recipe.yaml
fi
CONTEXT=$(grep -E '^  context:' "$RECIPE" | awk '{print $2}')
log "recipe $RECIPE (steps: ${STEPS:-as written}), context $CONTEXT"
for n in $NPROCS; do
  log "train on $n GPU(s)"
  rm -rf "runs/dp_$n"
  $Q run "$RECIPE" --device cuda --nproc "$n" --train-only -o "runs/dp_$n" > "$OUT/train_$n.txt" 2>&1 || { tail -20 "$OUT/train_$n.txt"; exit 1; }
  tail -2 "$OUT/train_$n.txt" | tee -a "$OUT/dp_scaling.txt"
  cp "runs/dp_$n/metrics.jsonl" "$OUT/metrics_$n.jsonl"
done
python3 - "$OUT" "$CONTEXT" $NPROCS <<'PY' | tee -a "$OUT/dp_scaling.txt"
import json, sys
out, ctx, ns = sys.argv[1], int(sys.argv[2]), [int(n) for n in sys.argv[3:]]
res = {}
print("| GPUs | samples/s | tokens/s per GPU | efficiency | all-reduce stall s / epoch (of s) | final val perplexity |")
print("| --- | --- | --- | --- | --- | --- |")
for n in ns:
    recs = [json.loads(l) for l in open(f"{out}/metrics_{n}.jsonl")]
    ep = [r for r in recs if r.get("event") == "epoch"]
    # the first epoch includes warm-up (cuBLAS autotuning, NCCL set-up): report the later ones
    steady = ep[1:] or ep
    sps = sum(r["train_samples_per_s"] for r in steady) / len(steady)
    comm = sum(r.get("comm_wait_seconds", 0.0) for r in steady) / len(steady)
    secs = sum(r["seconds"] for r in steady) / len(steady)
    final = [r for r in recs if r.get("event") == "final"][-1]
    res[n] = sps
    eff = f"{sps / (n * res[ns[0]] / ns[0]) * 100:.1f} %" if n != ns[0] else "(base)"
    print(f"| {n} | {sps:.1f} | {sps * ctx / n:.0f} | {eff} | {comm:.2f} ({secs:.1f}) | {final['perplexity']:.4f} |")
PY
