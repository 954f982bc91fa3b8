#!/usr/bin/env bash
# On the device machine: the gate's measurements for docs/RESULTS.md and recipes/baselines/.
# Builds this branch, then (CUDA training, CPU runtime for every measurement):
#   1. qforge run --seeds 5 for the shipped Fashion recipes; baselines from them (check --update-baseline)
#   2. five new seeds of the main recipe, checked against its baseline (an unchanged recipe: must pass)
#   3. the deliberately degraded recipe (weights one bit fewer), 3 seeds and 1 seed: must fail
#   4. PyTorch eager QAT (bench/pytorch_qat.py) 3 seeds, and QAT step time of both on the CPU
# The machine is given back after 30 s idle: everything runs in this one call. Data: .gpu-data/.
set -uo pipefail
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
export QFORGE_DATA="$PWD/.gpu-data"
B=/tmp/qf-build; Q=$B/cli/qforge
PY=$(command -v python3)
# PyTorch's QAT runs beside qforge's training from the start (GPU for accuracy, then CPU step time).
( $PY bench/pytorch_qat.py --device cuda --seeds 0 1 2 --data .gpu-data/fashion-mnist --json "$OUT/pytorch_qat.jsonl" \
    > "$OUT/pytorch_qat.log" 2>&1 ) &
PTPID=$!
log "build"
PREFIX="$($PY -c 'import torch;print(torch.utils.cmake_prefix_path)')"
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
cmake --build $B -j14 --target qforge qforge_bench_qat_step > "$OUT/build.txt" 2>&1 || { grep -E "error" "$OUT/build.txt" | head -40; exit 1; }
mkdir -p "$OUT/baselines"
log "seeds of the shipped recipes"
for r in fashion_cnn_fp32 fashion_cnn_w4a8_sp24_kd fashion_cnn_w8a8 fashion_cnn_w4a8; do
  # the teacher's seeds go beside runs/fashion_cnn_fp32, the run the QAT recipes start from
  d=runs/$r; [ $r = fashion_cnn_fp32 ] && d=runs/fashion_cnn_fp32_seeds
  $Q run recipes/$r.yaml --seeds 5 -o $d --jobs 5 --threads 3 --device cuda -q > "$OUT/run_$r.txt" 2>&1; echo "run $r: exit $?" | tee -a "$OUT/log.txt"
  cp $d/seeds.json "$OUT/seeds_$r.json" 2>/dev/null
  $Q check $d --baseline "$OUT/baselines/$r.yaml" --update-baseline --threads 4 >> "$OUT/log.txt" 2>&1
done
log "an unchanged recipe with five other seeds against the baseline (multi-seed and single-run)"
$Q run recipes/fashion_cnn_w4a8_sp24_kd.yaml --seeds 5,6,7,8,9 -o runs/kd_other_seeds --jobs 5 --threads 3 --device cuda -q > "$OUT/run_other.txt" 2>&1
$Q check runs/kd_other_seeds --baseline "$OUT/baselines/fashion_cnn_w4a8_sp24_kd.yaml" --threads 4 --junit "$OUT/check_other.xml" > "$OUT/check_other.txt" 2>&1; echo "check other seeds: exit $?" | tee -a "$OUT/log.txt"
for s in 5 6 7 8 9; do $Q check runs/kd_other_seeds/seed-$s --baseline "$OUT/baselines/fashion_cnn_w4a8_sp24_kd.yaml" --threads 4 > "$OUT/check_other_seed$s.txt" 2>&1; echo "check seed $s alone: exit $?" | tee -a "$OUT/log.txt"; done
log "the degraded recipe (3-bit weights under the same name)"
$Q run recipes/degraded/fashion_cnn_w4a8_sp24_kd_3bit.yaml --seeds 3 -o runs/degraded --jobs 3 --threads 4 --device cuda -q > "$OUT/run_degraded.txt" 2>&1
$Q check runs/degraded --baseline "$OUT/baselines/fashion_cnn_w4a8_sp24_kd.yaml" --threads 4 --junit "$OUT/check_degraded.xml" --json "$OUT/check_degraded.json" > "$OUT/check_degraded.txt" 2>&1; echo "check degraded (3 seeds): exit $?" | tee -a "$OUT/log.txt"
$Q check runs/degraded/seed-0 --baseline "$OUT/baselines/fashion_cnn_w4a8_sp24_kd.yaml" --threads 4 > "$OUT/check_degraded_seed0.txt" 2>&1; echo "check degraded seed 0 alone: exit $?" | tee -a "$OUT/log.txt"
log "waiting for PyTorch QAT"
wait $PTPID
log "QAT step time on the CPU, 4 threads, batch 128 (qforge then PyTorch, twice)"
for i in 1 2; do
  $B/bench/qforge_bench_qat_step recipes/fashion_cnn_w8a8.yaml --threads 4 --steps 40 >> "$OUT/step_time.txt" 2>&1
  $B/bench/qforge_bench_qat_step recipes/fashion_cnn_w4a8.yaml --threads 4 --steps 40 >> "$OUT/step_time.txt" 2>&1
  $PY bench/pytorch_qat.py --step-time --threads 4 --steps 40 --data .gpu-data/fashion-mnist >> "$OUT/step_time.txt" 2>&1
done
lscpu | grep "Model name" >> "$OUT/step_time.txt"
log "done"
