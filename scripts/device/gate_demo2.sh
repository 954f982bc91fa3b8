#!/usr/bin/env bash
# Second device call of the gate's measurements (the first: gate_demo.sh): the degraded recipes
# against the committed baseline, PyTorch's eager QAT (3 seeds) and QAT step times on the CPU.
# Everything lands in $OUT/all.tgz (the device returns a limited number of files).
set -uo pipefail
OUT="${OUT:-/tmp/out}"; W=/tmp/demo2; mkdir -p "$OUT" $W
log() { echo "== $(date +%T) $*" | tee -a "$W/log.txt"; }
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; }
B=/tmp/qf-build; Q=$B/cli/qforge; PY=$(command -v python3)
( $PY bench/pytorch_qat.py --device cuda --seeds 0 1 2 --data .gpu-data/fashion-mnist --json "$W/pytorch_qat.jsonl" > "$W/pytorch_qat.log" 2>&1 ) &
PTPID=$!
log "build"
PREFIX="$($PY -c 'import torch;print(torch.utils.cmake_prefix_path)')"
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DQFORGE_BUILD_TESTS=OFF -DQFORGE_CUDA=OFF > "$W/configure.txt" 2>&1
cmake --build $B -j14 --target qforge qforge_bench_qat_step > "$W/build.txt" 2>&1 || { grep error "$W/build.txt" | head; }
BL=recipes/baselines/fashion_cnn_w4a8_sp24_kd.yaml
for bits in 3 2; do
  log "degraded: ${bits}-bit weights, 5 seeds"
  $Q run recipes/degraded/fashion_cnn_w4a8_sp24_kd_${bits}bit.yaml --seeds 5 -o runs/degraded_$bits --jobs 5 --threads 3 --device cuda -q > "$W/run_degraded_$bits.txt" 2>&1
  $Q check runs/degraded_$bits --baseline $BL --threads 8 --junit "$W/check_degraded_$bits.xml" > "$W/check_degraded_$bits.txt" 2>&1; echo "check ${bits}-bit, 5 seeds: exit $?" | tee -a "$W/log.txt"
  for s in 0 1 2 3 4; do $Q check runs/degraded_$bits/seed-$s --baseline $BL --threads 8 > "$W/check_degraded_${bits}_seed$s.txt" 2>&1; echo "check ${bits}-bit seed $s alone: exit $?" | tee -a "$W/log.txt"; done
done
log "waiting for PyTorch QAT"; wait $PTPID
log "QAT step time on the CPU, 4 threads, batch 128 (qforge then PyTorch, twice)"
for i in 1 2; do
  $B/bench/qforge_bench_qat_step recipes/fashion_cnn_w8a8.yaml --threads 4 --steps 40 >> "$W/step_time.txt" 2>&1
  $B/bench/qforge_bench_qat_step recipes/fashion_cnn_w4a8.yaml --threads 4 --steps 40 >> "$W/step_time.txt" 2>&1
  $PY bench/pytorch_qat.py --step-time --threads 4 --steps 40 --data .gpu-data/fashion-mnist >> "$W/step_time.txt" 2>&1
done
lscpu | grep "Model name" >> "$W/step_time.txt"; $PY -c 'import torch; print("torch", torch.__version__)' >> "$W/step_time.txt"
log done
for b in 3 2; do cp runs/degraded_$b/seeds.json "$W/seeds_degraded_$b.json" 2>/dev/null; done
tar czf "$OUT/all.tgz" -C $W .
