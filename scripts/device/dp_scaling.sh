#!/usr/bin/env bash
# Data-parallel scaling on 1 and 2 GPUs of one host, NCCL, one process per GPU (issue 23).
# On the device tool's nvidia-h100-x2 kind, with the Brown corpus carried in .gpu-data/:
#   run(kind="nvidia-h100-x2", carry=[".gpu-data"], command="bash scripts/device/dp_scaling.sh")
# Builds qforge against the machine's PyTorch 2.x LibTorch (NCCL path: train/distributed_c10d.cpp),
# then trains recipes/brown_gpt_w4a8_dp.yaml (RECIPE= to change) with --nproc 1 and --nproc 2 at
# the same global batch and step count, and writes $OUT/dp_scaling.txt: samples/s and tokens/s
# per GPU, scaling efficiency (2-GPU throughput / (2 x 1-GPU throughput)), the host-side time
# waiting for gradient all-reduces, and each run's final validation perplexity.
set -uo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
# NVLink multicast stays off (device documentation); qforge's launcher forces these too.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export QFORGE_DATA="$PWD/.gpu-data"
RECIPE="${RECIPE:-recipes/brown_gpt_w4a8_dp.yaml}"
STEPS="${STEPS:-}"   # optional: a shorter copy of the recipe (train.steps) to save device time
log() { echo "== $(date +%T) $*" | tee -a "$OUT/dp_scaling.txt"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/dp_scaling.txt"
PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
log "configure + build (LibTorch $(python3 -c 'import torch;print(torch.__version__)'))"
cmake -S . -B /tmp/qf-build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DQFORGE_BUILD_TESTS=OFF > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
grep "data parallelism" "$OUT/configure.txt" | tee -a "$OUT/dp_scaling.txt"
cmake --build /tmp/qf-build -j16 --target qforge > "$OUT/build.txt" 2>&1 || { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
Q=/tmp/qf-build/cli/qforge
if [ -n "$STEPS" ]; then
  sed -E "s/^  steps: [0-9]+/  steps: $STEPS/" "$RECIPE" > /tmp/dp_recipe.yaml && RECIPE=/tmp/dp_recipe.yaml
fi
CONTEXT=$(grep -E '^  context:' "$RECIPE" | awk '{print $2}')
for n in 1 2; do
  log "train $RECIPE on $n GPU(s)"
  rm -rf "runs/dp_$n"
  $Q run "$RECIPE" --device cuda --nproc "$n" -o "runs/dp_$n" > "$OUT/train_$n.txt" 2>&1 || { tail -20 "$OUT/train_$n.txt"; exit 1; }
  tail -2 "$OUT/train_$n.txt" | tee -a "$OUT/dp_scaling.txt"
  cp "runs/dp_$n/metrics.jsonl" "$OUT/metrics_$n.jsonl"
done
python3 - "$OUT" "$CONTEXT" <<'PY' | tee -a "$OUT/dp_scaling.txt"
import json, sys
out, ctx = sys.argv[1], int(sys.argv[2])
res = {}
for n in (1, 2):
    recs = [json.loads(l) for l in open(f"{out}/metrics_{n}.jsonl")]
    ep = [r for r in recs if r.get("event") == "epoch"]
    # the first epoch includes warm-up (cuDNN/cuBLAS autotuning, NCCL set-up): report the later ones
    steady = ep[1:] or ep
    sps = sum(r["train_samples_per_s"] for r in steady) / len(steady)
    comm = sum(r.get("comm_wait_seconds", 0.0) for r in steady)
    secs = sum(r["seconds"] for r in steady)
    final = [r for r in recs if r.get("event") == "final"][-1]
    res[n] = sps
    print(f"{n} GPU: {sps:.1f} samples/s = {sps * ctx / n:.0f} tokens/s per GPU; all-reduce wait {comm:.2f} s "
          f"of {secs:.1f} s (epochs 2+); final val perplexity {final['perplexity']:.4f}")
print(f"scaling efficiency at 2 GPUs: {res[2] / (2 * res[1]) * 100:.1f} %")
PY
